/*
 * The sagemaker provider: describing errors.  Three sources:
 *   - SageMaker Runtime itself answers non-2xx with a JSON body {"message"} or {"Message"}
 *     (ValidationError 400, ThrottlingException 429, signature and token failures 403,
 *     ServiceUnavailable 503, ...), and 424 ModelError when the container answered an error:
 *     {"ErrorCode", "OriginalStatusCode", "OriginalMessage", "Message", "LogStreamArn"}.
 *   - The container reports a failure inside a 2xx answer or a stream line: TGI's
 *     {"error": "...", "error_type"}, OpenAI's {"error": {...}}, vLLM's {"object": "error"}.
 *   - The event stream carries an exception: ModelStreamError {"Message", "ErrorCode"} or
 *     InternalStreamFailure {"Message"}.
 * A ModelError is the container's own answer, so the client is given the container's status
 * (a 400 from the model is the client's bad request, not a gateway failure).  Upstream text is cut
 * short and reduced to valid UTF-8 without control characters before it reaches clients and logs.
 */
#include <stdio.h>

#include "sagemaker.h"

#define MESSAGE_CAP 1000 /* bytes kept of an upstream error message */
#define EXCERPT_CAP 200  /* bytes kept of a body that is not a recognised error object */
#define FIELD_CAP 100    /* bytes kept of a code */

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when it is not valid there. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        if (p[0] == 0xe0)
            lo = 0xa0; /* overlong */
        else if (p[0] == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        if (p[0] == 0xf0)
            lo = 0x90;
        else if (p[0] == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    }
    return n;
}

gantry_str_t sm_clean_text(const gantry_host_t *host, gantry_req_t *req, gantry_str_t in,
                           size_t cap)
{
    if (in.ptr == NULL || in.len == 0)
        return (gantry_str_t){"", 0};
    char *out = host->alloc(req, cap + sizeof("..."));
    if (out == NULL)
        return (gantry_str_t){"", 0};
    const unsigned char *p = (const unsigned char *)in.ptr;
    size_t i = 0, o = 0;
    bool space = false, cut = false;
    while (i < in.len) {
        size_t n;
        const char *unit;
        if (p[i] <= 0x20 || p[i] == 0x7f) {
            space = true;
            i++;
            continue;
        }
        if ((n = utf8_len(p + i, in.len - i)) == 0) {
            unit = "?";
            n = 1;
            i++;
        } else {
            unit = (const char *)p + i;
            i += n;
        }
        size_t sep = (space && o > 0) ? 1 : 0;
        if (o + sep + n > cap) {
            cut = true;
            break;
        }
        if (sep)
            out[o++] = ' ';
        memcpy(out + o, unit, n);
        o += n;
        space = false;
    }
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return (gantry_str_t){out, o};
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool contains(gantry_str_t hay, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hay.len; i++) {
        size_t k = 0;
        while (k < n && lower(hay.ptr[i + k]) == needle[k])
            k++;
        if (k == n)
            return true;
    }
    return false;
}

static gantry_error_class_t class_for_status(int status)
{
    switch (status) {
    case 400:
    case 413:
    case 422:
        return GANTRY_ERR_BAD_REQUEST;
    case 401:
    case 403:
        return GANTRY_ERR_AUTH;
    case 404:
        return GANTRY_ERR_NOT_FOUND;
    case 408:
    case 504:
        return GANTRY_ERR_TIMEOUT;
    case 429:
        return GANTRY_ERR_RATE_LIMIT;
    default:
        return status >= 500 ? GANTRY_ERR_SERVER : GANTRY_ERR_BAD_REQUEST;
    }
}

static const char *type_for_class(gantry_error_class_t c)
{
    switch (c) {
    case GANTRY_ERR_BAD_REQUEST:
    case GANTRY_ERR_CONTEXT_WINDOW:
    case GANTRY_ERR_CONTENT_POLICY:
        return "invalid_request_error";
    case GANTRY_ERR_AUTH:
        return "authentication_error";
    case GANTRY_ERR_NOT_FOUND:
        return "not_found_error";
    case GANTRY_ERR_RATE_LIMIT:
        return "rate_limit_error";
    case GANTRY_ERR_TIMEOUT:
        return "timeout";
    default:
        return "api_error";
    }
}

/*
 * A prompt too long for the model, in the words of vLLM/OpenAI ("maximum context length") and of
 * TGI's validation ("`inputs` tokens + `max_new_tokens` must be <= N", "`inputs` must have less
 * than N tokens").  Trusted on bad-request answers only: rate limits talk about tokens too.
 */
static bool is_context_window(gantry_error_class_t cls, gantry_str_t msg)
{
    if (cls != GANTRY_ERR_BAD_REQUEST)
        return false;
    return contains(msg, "maximum context length") || contains(msg, "context length") ||
           contains(msg, "context window") || contains(msg, "too many tokens") ||
           contains(msg, "`max_new_tokens` must be <=") ||
           (contains(msg, "`inputs` must have less than") && contains(msg, "tokens"));
}

/* The text of a message-like node: a string as is, anything else serialized. */
static gantry_str_t node_text(const gantry_host_t *host, gantry_req_t *req,
                              const gantry_json_t *node)
{
    gantry_str_t s = GANTRY_STR_NULL;
    switch (host->json_type(node)) {
    case GANTRY_JSON_STRING:
        return host->json_string(node);
    case GANTRY_JSON_OBJECT:
    case GANTRY_JSON_ARRAY:
    case GANTRY_JSON_NUMBER:
    case GANTRY_JSON_BOOL:
        if (host->json_write(req, node, &s) != GANTRY_OK)
            s = GANTRY_STR_NULL;
        return s;
    default:
        return GANTRY_STR_NULL;
    }
}

/*
 * The human message of an error object in any of the shapes containers and AWS use:
 * {"error": {"message"}}, {"error": "text"}, {"message"}, {"Message"}, {"detail"},
 * {"errorMessage"}.  NULL when none.
 */
static gantry_str_t message_of(const gantry_host_t *host, gantry_req_t *req,
                               const gantry_json_t *obj)
{
    const gantry_json_t *e = host->json_get(obj, "error");
    if (host->json_type(e) == GANTRY_JSON_STRING)
        return host->json_string(e);
    if (host->json_type(e) == GANTRY_JSON_OBJECT) {
        gantry_str_t m = node_text(host, req, host->json_get(e, "message"));
        if (m.ptr != NULL)
            return m;
    }
    static const char *const keys[] = {"message", "Message", "errorMessage", "detail"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const gantry_json_t *n = host->json_get(obj, keys[i]);
        if (host->json_type(n) == GANTRY_JSON_ARRAY) /* FastAPI: [{"loc", "msg", "type"}] */
            n = host->json_get(host->json_first(n), "msg");
        gantry_str_t m = node_text(host, req, n);
        if (m.ptr != NULL)
            return m;
    }
    return GANTRY_STR_NULL;
}

/*
 * An AWS error type from "__type" or "code": "com.amazon.coral.service#ThrottlingException" or
 * "ValidationException:http://internal..." become the bare name.
 */
static gantry_str_t aws_type(const gantry_host_t *host, const gantry_json_t *root)
{
    gantry_str_t t = host->json_string(host->json_get(root, "__type"));
    if (t.ptr == NULL)
        t = host->json_string(host->json_get(root, "code"));
    if (t.ptr == NULL)
        return GANTRY_STR_NULL;
    const char *hash = memchr(t.ptr, '#', t.len);
    if (hash != NULL) {
        t.len -= (size_t)(hash + 1 - t.ptr);
        t.ptr = hash + 1;
    }
    const char *colon = memchr(t.ptr, ':', t.len);
    if (colon != NULL)
        t.len = (size_t)(colon - t.ptr);
    return t;
}

static gantry_str_t format(const gantry_host_t *host, gantry_req_t *req, const char *fmt, ...)
    GANTRY_PRINTF(3, 4);

/* A message of ours around upstream text, in arena memory. */
static gantry_str_t format(const gantry_host_t *host, gantry_req_t *req, const char *fmt, ...)
{
    char buf[MESSAGE_CAP + 256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return GANTRY_STR_LIT("the upstream answered with an error");
    size_t len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
    char *copy = host->strdup(req, buf, len);
    return copy != NULL ? (gantry_str_t){copy, len}
                        : GANTRY_STR_LIT("the upstream answered with an error");
}

/* The container's own words from a ModelError's OriginalMessage (often JSON itself). */
static gantry_str_t original_text(const gantry_host_t *host, gantry_req_t *req, gantry_str_t orig)
{
    gantry_json_t *inner = host->json_parse(req, orig);
    if (host->json_type(inner) == GANTRY_JSON_OBJECT) {
        gantry_str_t m = message_of(host, req, inner);
        if (m.ptr != NULL)
            return sm_clean_text(host, req, m, MESSAGE_CAP);
    }
    return sm_clean_text(host, req, orig, MESSAGE_CAP);
}

/* 424 ModelError: the container answered OriginalStatusCode with OriginalMessage. */
static void describe_model_error(const sm_deployment_t *dep, const gantry_host_t *host,
                                 gantry_req_t *req, const gantry_json_t *root, gantry_error_t *err)
{
    int64_t orig = 0;
    gantry_str_t text = GANTRY_STR_NULL;
    if (!sm_json_int(host, host->json_get(root, "OriginalStatusCode"), 400, 599, &orig))
        orig = 0;
    gantry_str_t om = host->json_string(host->json_get(root, "OriginalMessage"));
    if (om.len > 0)
        text = original_text(host, req, om);
    if (text.len == 0)
        text = sm_clean_text(host, req, message_of(host, req, root), MESSAGE_CAP);

    err->status = orig > 0 ? (int)orig : 502;
    err->class_ = class_for_status(err->status);
    err->code = GANTRY_STR_LIT("ModelError");
    if (orig > 0)
        err->message =
            format(host, req, "SageMaker endpoint %s: the model container answered %d: %.*s",
                   dep->endpoint.ptr, (int)orig, (int)text.len, text.ptr);
    else
        err->message = format(host, req, "SageMaker endpoint %s: the model container failed: %.*s",
                              dep->endpoint.ptr, (int)text.len, text.ptr);
    if (is_context_window(err->class_, text))
        err->class_ = GANTRY_ERR_CONTEXT_WINDOW;
}

void sm_map_error(gantry_req_t *req, void *state, void *deployment, int status, gantry_str_t body,
                  gantry_error_t *err)
{
    const sm_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    const sm_deployment_t *dep = deployment;
    gantry_json_t *root = host->json_parse(req, body);
    bool is_obj = host->json_type(root) == GANTRY_JSON_OBJECT;

    err->status = status;
    if (is_obj && (status == 424 || host->json_get(root, "OriginalStatusCode") != NULL)) {
        describe_model_error(dep, host, req, root, err);
    } else {
        gantry_str_t type = is_obj ? aws_type(host, root) : GANTRY_STR_NULL;
        gantry_str_t msg = is_obj ? message_of(host, req, root) : GANTRY_STR_NULL;
        gantry_str_t text = msg.ptr != NULL ? sm_clean_text(host, req, msg, MESSAGE_CAP)
                                            : sm_clean_text(host, req, body, EXCERPT_CAP);
        err->class_ = class_for_status(status);
        /* Throttling and a model still loading are "try again later", whatever the status. */
        if (sm_str_eq(type, "ThrottlingException") || sm_str_eq(type, "ModelNotReadyException") ||
            contains(text, "rate exceeded")) {
            err->status = 429;
            err->class_ = GANTRY_ERR_RATE_LIMIT;
        } else if (status == 400 && contains(text, "endpoint") && contains(text, "not found")) {
            /* "Endpoint x of account y not found.": the deployment names nothing that exists. */
            err->status = 404;
            err->class_ = GANTRY_ERR_NOT_FOUND;
        }
        err->code = sm_clean_text(host, req, type, FIELD_CAP);
        err->message = text.len > 0 ? format(host, req, "SageMaker endpoint %s: %.*s",
                                             dep->endpoint.ptr, (int)text.len, text.ptr)
                                    : format(host, req, "SageMaker endpoint %s answered HTTP %d",
                                             dep->endpoint.ptr, status);
        if (is_context_window(err->class_, text))
            err->class_ = GANTRY_ERR_CONTEXT_WINDOW;
    }
    const char *type = type_for_class(err->class_);
    err->type = (gantry_str_t){type, strlen(type)};
}

gantry_action_t sm_fail_container_error(const sm_instance_t *inst, gantry_req_t *req,
                                        const gantry_json_t *root, gantry_str_t raw)
{
    const gantry_host_t *host = inst->host;
    int status = 502;
    gantry_str_t msg = root != NULL ? message_of(host, req, root) : GANTRY_STR_NULL;
    gantry_str_t text = msg.ptr != NULL ? sm_clean_text(host, req, msg, MESSAGE_CAP)
                                        : sm_clean_text(host, req, raw, EXCERPT_CAP);
    if (text.len == 0)
        text = GANTRY_STR_LIT("the model container reported an error");

    /* A status the container gave: vLLM's numeric "code", TGI's error_type. */
    int64_t code;
    const gantry_json_t *e = host->json_get(root, "error");
    if (sm_json_int(host, host->json_get(root, "code"), 400, 599, &code) ||
        sm_json_int(host, host->json_get(e, "code"), 400, 599, &code))
        status = (int)code;
    gantry_str_t etype = host->json_string(host->json_get(root, "error_type"));
    if (sm_str_eq(etype, "validation"))
        status = 400;
    else if (sm_str_eq(etype, "overloaded"))
        status = 429;

    gantry_error_class_t cls = class_for_status(status);
    if (is_context_window(cls, text))
        cls = GANTRY_ERR_CONTEXT_WINDOW;
    return host->req_fail(req, status, cls, type_for_class(cls), NULL, "%.*s", (int)text.len,
                          text.ptr);
}

gantry_action_t sm_fail_stream_exception(const sm_instance_t *inst, gantry_req_t *req,
                                         gantry_str_t type, gantry_str_t payload)
{
    const gantry_host_t *host = inst->host;
    gantry_json_t *root = host->json_parse(req, payload);
    gantry_str_t msg =
        host->json_type(root) == GANTRY_JSON_OBJECT ? message_of(host, req, root) : GANTRY_STR_NULL;
    gantry_str_t text = msg.ptr != NULL ? sm_clean_text(host, req, msg, MESSAGE_CAP)
                                        : sm_clean_text(host, req, payload, EXCERPT_CAP);
    if (text.len == 0)
        text = GANTRY_STR_LIT("the stream reported an error");
    gantry_str_t code =
        sm_clean_text(host, req, host->json_string(host->json_get(root, "ErrorCode")), 64);
    gantry_str_t name = sm_clean_text(host, req, type, FIELD_CAP);
    int status = 502;
    gantry_error_class_t cls = GANTRY_ERR_SERVER;

    if (sm_str_eq(code, "ModelInvocationTimeExceeded")) {
        status = 504;
        cls = GANTRY_ERR_TIMEOUT;
    } else if (sm_str_eq(type, "ThrottlingException")) {
        status = 429;
        cls = GANTRY_ERR_RATE_LIMIT;
    }
    const char *etype = type_for_class(cls);
    char codebuf[FIELD_CAP + 8];
    snprintf(codebuf, sizeof(codebuf), "%.*s", (int)(name.len > 0 ? name.len : 9),
             name.len > 0 ? name.ptr : "exception");
    if (code.len > 0)
        return host->req_fail(req, status, cls, etype, codebuf,
                              "SageMaker stream failed: %s (%.*s): %.*s", codebuf, (int)code.len,
                              code.ptr, (int)text.len, text.ptr);
    return host->req_fail(req, status, cls, etype, codebuf, "SageMaker stream failed: %s: %.*s",
                          codebuf, (int)text.len, text.ptr);
}

/*
 * The sagemaker provider: reading answers.  A non-streamed answer is the container's body as it
 * wrote it; a streamed one is an AWS event stream whose PayloadPart events carry the container's
 * bytes cut at arbitrary places (inside a JSON text, inside "data:"), so the bytes are re-split
 * into lines here (sagemaker_lines.c) and each line is read as an SSE field or a JSON line -
 * containers write either.  Exceptions (ModelStreamError, InternalStreamFailure) end the stream
 * with an error.
 */
#include "sagemaker.h"

/* The longest line a container may write: a whole non-streamed answer fits several times. */
#define MAX_LINE (4u << 20)

gantry_action_t sm_parse_response(gantry_req_t *req, void *state, void *deployment, int status,
                                  gantry_str_t body)
{
    const sm_instance_t *inst = state;
    const gantry_host_t *host = inst->host;
    const sm_deployment_t *dep = deployment;
    (void)status;

    sm_req_t *rs = sm_req_state(inst, req);
    if (rs == NULL)
        return sm_internal(inst, req, "could not read the upstream response", GANTRY_ENOMEM);
    gantry_endpoint_t ep =
        GANTRY_HOST_HAS(host, req_endpoint) ? host->req_endpoint(req) : GANTRY_EP_CHAT;
    if (ep == GANTRY_EP_EMBEDDINGS)
        return sm_embed_response(inst, dep, req, body);
    if (dep->api == SM_API_MESSAGES)
        return sm_messages_response(inst, dep, req, body);
    return sm_tgi_response(inst, dep, req, rs, body);
}

typedef struct line_ctx {
    const sm_instance_t *inst;
    const sm_deployment_t *dep;
    gantry_req_t *req;
    sm_req_t *rs;
    gantry_action_t act;
} line_ctx_t;

static void *arena_alloc(void *ctx, size_t size)
{
    line_ctx_t *c = ctx;
    return c->inst->host->alloc(c->req, size);
}

static bool starts_with(gantry_str_t s, const char *lit, size_t n)
{
    return s.len >= n && memcmp(s.ptr, lit, n) == 0;
}

static gantry_str_t trim_right(gantry_str_t s)
{
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/*
 * The payload of a line: the value of an SSE "data:" field, or the line itself for a JSON line.
 * Other SSE fields and comments give an empty payload; an "event:" field sets *error_event (when
 * not NULL) to whether it names an error event.
 */
static gantry_str_t payload_of(gantry_str_t line, bool *error_event)
{
    if (starts_with(line, "data:", 5)) {
        line.ptr += 5;
        line.len -= 5;
        if (line.len > 0 && line.ptr[0] == ' ') {
            line.ptr++;
            line.len--;
        }
        return trim_right(line);
    }
    if (line.len > 0 && line.ptr[0] == ':')
        return GANTRY_STR_NULL; /* an SSE comment (keep-alive) */
    if (starts_with(line, "event:", 6)) {
        gantry_str_t name = {line.ptr + 6, line.len - 6};
        while (name.len > 0 && name.ptr[0] == ' ') {
            name.ptr++;
            name.len--;
        }
        if (error_event != NULL)
            *error_event = sm_str_eq(trim_right(name), "error");
        return GANTRY_STR_NULL;
    }
    if (starts_with(line, "id:", 3) || starts_with(line, "retry:", 6))
        return GANTRY_STR_NULL;
    return trim_right(line);
}

static gantry_action_t dispatch(line_ctx_t *c, gantry_str_t data)
{
    if (c->rs->sse_error) {
        /* Whatever the data of an error event says, the stream has failed. */
        const gantry_host_t *host = c->inst->host;
        gantry_json_t *root = host->json_parse(c->req, data);
        return sm_fail_container_error(
            c->inst, c->req, host->json_type(root) == GANTRY_JSON_OBJECT ? root : NULL, data);
    }
    if (c->dep->api == SM_API_MESSAGES)
        return sm_messages_line(c->inst, c->dep, c->req, c->rs, data);
    return sm_tgi_line(c->inst, c->dep, c->req, c->rs, data);
}

static int on_line(void *ctx, const char *p, size_t n)
{
    line_ctx_t *c = ctx;
    if (c->rs->finished)
        return 0; /* bytes after the end of the answer mean nothing */
    gantry_str_t data = payload_of((gantry_str_t){p, n}, &c->rs->sse_error);
    if (data.len == 0)
        return 0;
    c->act = dispatch(c, data);
    return c->act == GANTRY_CONTINUE ? 0 : 1;
}

/*
 * A line the container has not ended yet but that is complete already: "[DONE]", or a JSON
 * object that parses.  Reading it now means a container that leaves out the last newline still
 * ends its stream; a prefix of a longer line is never a whole JSON object, so nothing is read
 * twice or early.
 */
static bool complete_partial(line_ctx_t *c, gantry_str_t *data)
{
    const gantry_host_t *host = c->inst->host;
    sm_lines_t *l = &c->rs->lines;
    if (l->len == 0)
        return false;
    gantry_str_t d = payload_of((gantry_str_t){l->buf, l->len}, NULL);
    if (sm_str_eq(d, "[DONE]")) {
        *data = d;
        return true;
    }
    if (d.len < 2 || d.ptr[0] != '{' || d.ptr[d.len - 1] != '}')
        return false;
    gantry_json_t *root = host->json_parse(c->req, d);
    bool ok = host->json_type(root) == GANTRY_JSON_OBJECT;
    host->json_release(c->req, root);
    if (ok)
        *data = d;
    return ok;
}

static gantry_action_t feed(line_ctx_t *c, gantry_str_t bytes)
{
    int rc =
        sm_lines_feed(&c->rs->lines, bytes.ptr, bytes.len, MAX_LINE, arena_alloc, c, on_line, c);
    if (rc > 0)
        return c->act;
    if (rc == SM_LINES_NOMEM)
        return sm_internal(c->inst, c->req, "could not buffer the upstream stream", GANTRY_ENOMEM);
    if (rc == SM_LINES_TOO_LONG)
        return c->inst->host->req_fail(c->req, 502, GANTRY_ERR_SERVER, "api_error", NULL,
                                       "SageMaker endpoint %s wrote a stream line longer than "
                                       "4 MiB",
                                       c->dep->endpoint.ptr);
    gantry_str_t data;
    if (!c->rs->finished && complete_partial(c, &data)) {
        /* The buffer is consumed before it is read, as sm_lines_feed() does for its lines. */
        sm_lines_clear(&c->rs->lines);
        return dispatch(c, data);
    }
    return GANTRY_CONTINUE;
}

gantry_action_t sm_parse_frame(gantry_req_t *req, void *state, void *deployment,
                               const gantry_frame_t *frame)
{
    const sm_instance_t *inst = state;
    const sm_deployment_t *dep = deployment;

    sm_req_t *rs = sm_req_state(inst, req);
    if (rs == NULL)
        return sm_internal(inst, req, "could not read the upstream stream", GANTRY_ENOMEM);
    if (sm_str_eq(frame->message_type, "exception"))
        return sm_fail_stream_exception(inst, req, frame->event, frame->data);
    /* An unmodelled error: the core hands its :error-code as the event name. */
    if (sm_str_eq(frame->message_type, "error"))
        return sm_fail_stream_exception(
            inst, req,
            frame->event.len > 0 ? frame->event : GANTRY_STR_LIT("InternalStreamFailure"),
            frame->data);
    /* PayloadPart is the only event of the stream today; others that may come are skipped. */
    if (!sm_str_eq(frame->event, "PayloadPart") || rs->finished)
        return GANTRY_CONTINUE;
    line_ctx_t c = {.inst = inst, .dep = dep, .req = req, .rs = rs, .act = GANTRY_CONTINUE};
    return feed(&c, frame->data);
}

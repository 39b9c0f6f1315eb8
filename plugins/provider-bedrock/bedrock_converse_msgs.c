/*
 * The bedrock provider: the canonical messages as Converse (and Nova InvokeModel) "system" and
 * "messages".  Converse wants strictly alternating user/assistant turns made of typed blocks, so
 * consecutive messages of one role are merged (tool results are user turns), system and developer
 * messages move to "system", and cache_control marks become cachePoint blocks after the marked
 * block.
 */
#include <stdio.h>

#include "bedrock.h"

#define MAX_NAMES 64

typedef struct conv {
    br_ctx_t *c;
    const gantry_host_t *h;
    bool nova; /* Nova InvokeModel rather than Converse */
    gantry_json_t *messages;
    gantry_json_t *cur; /* content array of the last message */
    const char *cur_role;
    br_history_t *hist;
    size_t ndocs;
    gantry_str_t docs[MAX_NAMES]; /* document names used: Bedrock wants them distinct */
} conv_t;

const char *br_image_format(gantry_str_t mime)
{
    if (br_str_ieq(mime, "image/png"))
        return "png";
    if (br_str_ieq(mime, "image/jpeg") || br_str_ieq(mime, "image/jpg"))
        return "jpeg";
    if (br_str_ieq(mime, "image/gif"))
        return "gif";
    if (br_str_ieq(mime, "image/webp"))
        return "webp";
    return NULL;
}

static const struct {
    const char *mime, *ext, *format;
} doc_types[] = {
    {"application/pdf", "pdf", "pdf"},
    {"text/csv", "csv", "csv"},
    {"application/msword", "doc", "doc"},
    {"application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx", "docx"},
    {"application/vnd.ms-excel", "xls", "xls"},
    {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx", "xlsx"},
    {"text/html", "html", "html"},
    {"text/plain", "txt", "txt"},
    {"text/markdown", "md", "md"},
};

static const char *doc_format(gantry_str_t mime)
{
    for (size_t i = 0; i < sizeof(doc_types) / sizeof(doc_types[0]); i++) {
        if (br_str_ieq(mime, doc_types[i].mime))
            return doc_types[i].format;
    }
    return NULL;
}

/* The extension of the last path segment of a URI ("s3://b/x/report.PDF" gives "PDF"). */
static gantry_str_t uri_ext(gantry_str_t uri)
{
    for (size_t i = uri.len; i > 0; i--) {
        char ch = uri.ptr[i - 1];
        if (ch == '/')
            break;
        if (ch == '.')
            return (gantry_str_t){uri.ptr + i, uri.len - i};
    }
    return GANTRY_STR_NULL;
}

static const char *image_format_of_ext(gantry_str_t ext)
{
    if (br_str_ieq(ext, "png"))
        return "png";
    if (br_str_ieq(ext, "jpg") || br_str_ieq(ext, "jpeg"))
        return "jpeg";
    if (br_str_ieq(ext, "gif"))
        return "gif";
    if (br_str_ieq(ext, "webp"))
        return "webp";
    return NULL;
}

static const char *doc_format_of_ext(gantry_str_t ext)
{
    for (size_t i = 0; i < sizeof(doc_types) / sizeof(doc_types[0]); i++) {
        if (br_str_ieq(ext, doc_types[i].ext))
            return doc_types[i].format;
    }
    return NULL;
}

bool br_has_cache_control(const gantry_host_t *h, const gantry_json_t *node)
{
    return h->json_type(h->json_get(node, "cache_control")) == GANTRY_JSON_OBJECT;
}

void br_cache_point(br_ctx_t *c, gantry_json_t *arr)
{
    gantry_json_t *cp = br_obj(c, br_push_obj(c, arr), "cachePoint");
    br_set_cstr(c, cp, "type", "default");
}

/* The content array of a `role` turn: the last one when it has that role, else a new turn. */
static gantry_json_t *turn(conv_t *v, const char *role)
{
    if (v->cur != NULL && strcmp(v->cur_role, role) == 0)
        return v->cur;
    gantry_json_t *m = br_push_obj(v->c, v->messages);
    br_set_cstr(v->c, m, "role", role);
    v->cur = br_arr(v->c, m, "content");
    v->cur_role = role;
    return v->cur;
}

/*
 * A document name Bedrock accepts: letters, digits, single spaces, '-', '(', ')', '[' and ']';
 * anything else (dots included) becomes '-'.  Repeats get "-2", "-3", ... so they stay distinct.
 */
static gantry_str_t doc_name(conv_t *v, gantry_str_t filename)
{
    br_ctx_t *c = v->c;
    char buf[128];
    size_t n = 0;
    bool space = false;
    for (size_t i = 0; i < filename.len && n < 100; i++) {
        unsigned char ch = (unsigned char)filename.ptr[i];
        if (ch == ' ' || ch == '\t') {
            space = n > 0;
            continue;
        }
        if (space) {
            buf[n++] = ' ';
            space = false;
        }
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '(' || ch == ')' || ch == '[' ||
                  ch == ']';
        buf[n++] = ok ? (char)ch : '-';
    }
    if (n == 0) {
        memcpy(buf, "document", 8);
        n = 8;
    }
    size_t base = n;
    for (int suffix = 2;; suffix++) {
        bool dup = false;
        for (size_t i = 0; i < v->ndocs && !dup; i++)
            dup = v->docs[i].len == n && memcmp(v->docs[i].ptr, buf, n) == 0;
        if (!dup || suffix > 999)
            break;
        int w = snprintf(buf + base, sizeof(buf) - base, "-%d", suffix);
        n = base + (size_t)(w > 0 ? w : 0);
    }
    char *s = c->host->strdup(c->req, buf, n);
    if (s == NULL) {
        c->oom = true;
        return GANTRY_STR_LIT("document");
    }
    gantry_str_t out = {s, n};
    if (v->ndocs < MAX_NAMES)
        v->docs[v->ndocs++] = out;
    return out;
}

static int add_document(conv_t *v, gantry_json_t *arr, const char *format, gantry_str_t filename,
                        gantry_str_t bytes, gantry_str_t s3uri, const char *where)
{
    br_ctx_t *c = v->c;
    if (v->nova) {
        /* Nova's InvokeModel has no document blocks (only Converse does). */
        if (br_unsupported(c, where, "documents need the Converse API (bedrock/converse/...)") != 0)
            return -1;
        return 0;
    }
    gantry_json_t *doc = br_obj(c, br_push_obj(c, arr), "document");
    br_set_cstr(c, doc, "format", format);
    br_set_str(c, doc, "name", doc_name(v, filename));
    gantry_json_t *src = br_obj(c, doc, "source");
    if (s3uri.len > 0)
        br_set_str(c, br_obj(c, src, "s3Location"), "uri", s3uri);
    else
        br_set_str(c, src, "bytes", bytes);
    return 0;
}

static void add_image(conv_t *v, gantry_json_t *arr, const char *format, gantry_str_t bytes,
                      gantry_str_t s3uri)
{
    br_ctx_t *c = v->c;
    gantry_json_t *img = br_obj(c, br_push_obj(c, arr), "image");
    br_set_cstr(c, img, "format", format);
    gantry_json_t *src = br_obj(c, img, "source");
    if (s3uri.len > 0)
        br_set_str(c, br_obj(c, src, "s3Location"), "uri", s3uri);
    else
        br_set_str(c, src, "bytes", bytes);
}

/* An image_url part: a base64 data: URL, or an s3:// location; http(s) is not fetched. */
static int image_part(conv_t *v, gantry_json_t *arr, const gantry_json_t *part, const char *where)
{
    br_ctx_t *c = v->c;
    const gantry_host_t *h = v->h;
    const gantry_json_t *iu = h->json_get(part, "image_url");
    gantry_str_t url =
        h->json_type(iu) == GANTRY_JSON_STRING ? h->json_string(iu) : br_get_str(h, iu, "url");
    gantry_str_t mime, data;
    if (url.ptr == NULL) {
        br_bad_request(c, "%s: image_url.url is missing", where);
        return -1;
    }
    if (br_data_url(url, &mime, &data)) {
        const char *fmt = br_image_format(mime);
        if (fmt != NULL) {
            add_image(v, arr, fmt, data, GANTRY_STR_NULL);
            return 0;
        }
        if ((fmt = doc_format(mime)) != NULL)
            return add_document(v, arr, fmt, GANTRY_STR_NULL, data, GANTRY_STR_NULL, where);
        br_bad_request(c, "%s: Bedrock does not take %.*s images (png, jpeg, gif, webp)", where,
                       (int)(mime.len > 60 ? 60 : mime.len), mime.ptr);
        return -1;
    }
    if (br_has_prefix(url, "s3://")) {
        const char *fmt = image_format_of_ext(uri_ext(url));
        if (fmt == NULL) {
            br_bad_request(
                c, "%s: cannot tell the image format of the s3:// URL from its extension", where);
            return -1;
        }
        add_image(v, arr, fmt, GANTRY_STR_NULL, url);
        return 0;
    }
    if (br_has_prefix(url, "http://") || br_has_prefix(url, "https://"))
        return br_unsupported(c, where,
                              "Bedrock does not fetch image URLs; send the image as a base64 "
                              "data: URL");
    br_bad_request(c, "%s: the image URL must be a base64 data: URL", where);
    return -1;
}

/* A file part: file_data as a data: URL, or a file_id that is an s3:// URI. */
static int file_part(conv_t *v, gantry_json_t *arr, const gantry_json_t *part, const char *where)
{
    br_ctx_t *c = v->c;
    const gantry_host_t *h = v->h;
    const gantry_json_t *file = h->json_get(part, "file");
    gantry_str_t fdata = br_get_str(h, file, "file_data");
    gantry_str_t fid = br_get_str(h, file, "file_id");
    gantry_str_t fname = br_get_str(h, file, "filename");
    gantry_str_t mime, data;
    if (fdata.ptr != NULL) {
        if (!br_data_url(fdata, &mime, &data)) {
            br_bad_request(c, "%s: file.file_data must be a base64 data: URL", where);
            return -1;
        }
        const char *fmt = br_image_format(mime);
        if (fmt != NULL) {
            add_image(v, arr, fmt, data, GANTRY_STR_NULL);
            return 0;
        }
        if ((fmt = doc_format(mime)) == NULL) {
            br_bad_request(c,
                           "%s: Bedrock does not take %.*s documents (pdf, csv, doc, docx, xls, "
                           "xlsx, html, txt, md)",
                           where, (int)(mime.len > 80 ? 80 : mime.len), mime.ptr);
            return -1;
        }
        return add_document(v, arr, fmt, fname, data, GANTRY_STR_NULL, where);
    }
    if (fid.ptr != NULL && br_has_prefix(fid, "s3://")) {
        gantry_str_t ext = uri_ext(fid);
        const char *fmt = image_format_of_ext(ext);
        if (fmt != NULL) {
            add_image(v, arr, fmt, GANTRY_STR_NULL, fid);
            return 0;
        }
        if ((fmt = doc_format_of_ext(ext)) == NULL) {
            br_bad_request(c, "%s: cannot tell the document format of the s3:// file_id", where);
            return -1;
        }
        return add_document(v, arr, fmt, fname.ptr != NULL ? fname : GANTRY_STR_NULL,
                            GANTRY_STR_NULL, fid, where);
    }
    if (fid.ptr != NULL)
        return br_unsupported(c, where, "uploaded file ids are not available on Bedrock");
    br_bad_request(c, "%s: file needs file_data", where);
    return -1;
}

/* One part of user (or tool result) content. */
static int user_part(conv_t *v, gantry_json_t *arr, const gantry_json_t *part, size_t mi, size_t pi)
{
    br_ctx_t *c = v->c;
    const gantry_host_t *h = v->h;
    char where[64];
    snprintf(where, sizeof(where), "messages[%zu].content[%zu]", mi, pi);
    gantry_str_t type = br_get_str(h, part, "type");
    int rc = 0;
    if (br_str_eq(type, "text")) {
        gantry_str_t text = br_get_str(h, part, "text");
        if (text.ptr == NULL) {
            br_bad_request(c, "%s: a text part needs a text string", where);
            return -1;
        }
        /* Bedrock refuses blank text blocks; an empty part carries nothing anyway. */
        if (text.len > 0)
            br_set_str(c, br_push_obj(c, arr), "text", text);
    } else if (br_str_eq(type, "image_url")) {
        rc = image_part(v, arr, part, where);
    } else if (br_str_eq(type, "file")) {
        rc = file_part(v, arr, part, where);
    } else {
        char what[96];
        snprintf(what, sizeof(what), "%s (a %.*s part)", where,
                 (int)(type.len > 30 ? 30 : type.len), type.ptr != NULL ? type.ptr : "");
        return br_unsupported(c, what, NULL);
    }
    if (rc == 0 && br_has_cache_control(h, part) && h->json_count(arr) > 0)
        br_cache_point(c, arr);
    return rc;
}

/* String or parts content of a user turn, into arr. */
static int user_content(conv_t *v, gantry_json_t *arr, const gantry_json_t *content, size_t mi)
{
    const gantry_host_t *h = v->h;
    switch (h->json_type(content)) {
    case GANTRY_JSON_STRING: {
        gantry_str_t s = h->json_string(content);
        if (s.len > 0)
            br_set_str(v->c, br_push_obj(v->c, arr), "text", s);
        return 0;
    }
    case GANTRY_JSON_ARRAY: {
        size_t pi = 0;
        for (const gantry_json_t *p = h->json_first(content); p != NULL;
             p = h->json_next(p), pi++) {
            if (user_part(v, arr, p, mi, pi) != 0)
                return -1;
        }
        return 0;
    }
    case GANTRY_JSON_NULL:
    case GANTRY_JSON_INVALID:
        return 0;
    default:
        br_bad_request(v->c, "messages[%zu].content must be a string or an array of parts", mi);
        return -1;
    }
}

static int user_message(conv_t *v, const gantry_json_t *m, size_t mi)
{
    gantry_json_t *arr = turn(v, "user");
    size_t before = v->h->json_count(arr);
    if (user_content(v, arr, v->h->json_get(m, "content"), mi) != 0)
        return -1;
    if (br_has_cache_control(v->h, m) && v->h->json_count(arr) > before)
        br_cache_point(v->c, arr);
    return 0;
}

static void note_tool(conv_t *v, gantry_str_t name)
{
    br_history_t *hi = v->hist;
    for (size_t i = 0; i < hi->ntools; i++) {
        if (hi->tools[i].len == name.len && memcmp(hi->tools[i].ptr, name.ptr, name.len) == 0)
            return;
    }
    if (hi->ntools < BR_MAX_HISTORY_TOOLS)
        hi->tools[hi->ntools++] = name;
}

/* thinking_blocks go back first: Bedrock wants an assistant turn's reasoning before its text. */
static int assistant_thinking(conv_t *v, gantry_json_t *arr, const gantry_json_t *blocks, size_t mi)
{
    br_ctx_t *c = v->c;
    const gantry_host_t *h = v->h;
    size_t bi = 0;
    for (const gantry_json_t *b = h->json_first(blocks); b != NULL; b = h->json_next(b), bi++) {
        gantry_str_t type = br_get_str(h, b, "type");
        if (br_str_eq(type, "thinking")) {
            gantry_str_t text = br_get_str(h, b, "thinking");
            gantry_str_t sig = br_get_str(h, b, "signature");
            gantry_json_t *rt =
                br_obj(c, br_obj(c, br_push_obj(c, arr), "reasoningContent"), "reasoningText");
            br_set_str(c, rt, "text", text);
            if (sig.ptr != NULL)
                br_set_str(c, rt, "signature", sig);
        } else if (br_str_eq(type, "redacted_thinking")) {
            gantry_str_t data = br_get_str(h, b, "data");
            br_set_str(c, br_obj(c, br_push_obj(c, arr), "reasoningContent"), "redactedContent",
                       data);
        } else {
            br_bad_request(c, "messages[%zu].thinking_blocks[%zu]: unknown type", mi, bi);
            return -1;
        }
    }
    return 0;
}

static int assistant_message(conv_t *v, const gantry_json_t *m, size_t mi)
{
    br_ctx_t *c = v->c;
    const gantry_host_t *h = v->h;
    gantry_json_t *arr = turn(v, "assistant");
    size_t before = h->json_count(arr);

    const gantry_json_t *tb = h->json_get(m, "thinking_blocks");
    if (h->json_type(tb) == GANTRY_JSON_ARRAY && !v->nova &&
        assistant_thinking(v, arr, tb, mi) != 0)
        return -1;

    const gantry_json_t *content = h->json_get(m, "content");
    if (h->json_type(content) == GANTRY_JSON_STRING) {
        gantry_str_t s = h->json_string(content);
        if (s.len > 0)
            br_set_str(c, br_push_obj(c, arr), "text", s);
    } else if (h->json_type(content) == GANTRY_JSON_ARRAY) {
        size_t pi = 0;
        for (const gantry_json_t *p = h->json_first(content); p != NULL;
             p = h->json_next(p), pi++) {
            gantry_str_t type = br_get_str(h, p, "type");
            gantry_str_t text = br_get_str(h, p, br_str_eq(type, "refusal") ? "refusal" : "text");
            if (!br_str_eq(type, "text") && !br_str_eq(type, "refusal")) {
                char what[80];
                snprintf(what, sizeof(what), "messages[%zu].content[%zu] (assistant)", mi, pi);
                if (br_unsupported(c, what, "assistant turns carry text only") != 0)
                    return -1;
                continue;
            }
            if (text.len > 0)
                br_set_str(c, br_push_obj(c, arr), "text", text);
            if (br_has_cache_control(h, p) && h->json_count(arr) > before)
                br_cache_point(c, arr);
        }
    }

    const gantry_json_t *calls = h->json_get(m, "tool_calls");
    size_t ti = 0;
    for (const gantry_json_t *tc = h->json_first(calls); tc != NULL; tc = h->json_next(tc), ti++) {
        const gantry_json_t *fn = h->json_get(tc, "function");
        gantry_str_t id = br_get_str(h, tc, "id");
        gantry_str_t name = br_get_str(h, fn, "name");
        gantry_str_t args = br_get_str(h, fn, "arguments");
        if (id.len == 0 || name.len == 0) {
            br_bad_request(c, "messages[%zu].tool_calls[%zu] needs an id and a function name", mi,
                           ti);
            return -1;
        }
        gantry_json_t *input = NULL;
        bool blank = true;
        for (size_t k = 0; k < args.len && blank; k++)
            blank = args.ptr[k] == ' ' || args.ptr[k] == '\n' || args.ptr[k] == '\t';
        input = blank ? h->json_new(c->req, GANTRY_JSON_OBJECT) : h->json_parse(c->req, args);
        if (h->json_type(input) != GANTRY_JSON_OBJECT) {
            if (input == NULL && blank) {
                c->oom = true;
                return 0;
            }
            br_bad_request(c,
                           "messages[%zu].tool_calls[%zu].function.arguments must be a JSON object",
                           mi, ti);
            return -1;
        }
        gantry_json_t *tu = br_obj(c, br_push_obj(c, arr), "toolUse");
        br_set_str(c, tu, "toolUseId", id);
        br_set_str(c, tu, "name", name);
        if (tu == NULL || h->json_attach(c->req, tu, "input", input) != 0)
            c->oom = true;
        v->hist->tool_blocks = true;
        note_tool(v, name);
    }
    if (br_has_cache_control(h, m) && h->json_count(arr) > before)
        br_cache_point(c, arr);
    return 0;
}

static int tool_message(conv_t *v, const gantry_json_t *m, size_t mi)
{
    br_ctx_t *c = v->c;
    const gantry_host_t *h = v->h;
    gantry_str_t id = br_get_str(h, m, "tool_call_id");
    if (id.len == 0) {
        br_bad_request(c, "messages[%zu]: a tool message needs tool_call_id", mi);
        return -1;
    }
    gantry_json_t *arr = turn(v, "user");
    gantry_json_t *tr = br_obj(c, br_push_obj(c, arr), "toolResult");
    br_set_str(c, tr, "toolUseId", id);
    gantry_json_t *content = br_arr(c, tr, "content");
    const gantry_json_t *mc = h->json_get(m, "content");
    if (h->json_type(mc) == GANTRY_JSON_ARRAY) {
        if (user_content(v, content, mc, mi) != 0)
            return -1;
    } else if (h->json_string(mc).len > 0) {
        br_set_str(c, br_push_obj(c, content), "text", h->json_string(mc));
    }
    /* An empty result is still an answer, but Bedrock refuses both an empty list and blank text. */
    if (h->json_count(content) == 0)
        br_set_cstr(c, br_push_obj(c, content), "text", "(no output)");
    bool is_error = false;
    if (br_str_eq(br_get_str(h, m, "status"), "error") ||
        (h->json_bool(h->json_get(m, "is_error"), &is_error) == GANTRY_OK && is_error))
        br_set_cstr(c, tr, "status", "error");
    v->hist->tool_blocks = true;
    if (br_has_cache_control(h, m))
        br_cache_point(c, arr);
    return 0;
}

/* system and developer messages, in order, as system blocks. */
static int system_blocks(conv_t *v, const gantry_json_t *msgs, gantry_json_t *out)
{
    br_ctx_t *c = v->c;
    const gantry_host_t *h = v->h;
    gantry_json_t *sys = NULL;
    size_t mi = 0;
    for (const gantry_json_t *m = h->json_first(msgs); m != NULL; m = h->json_next(m), mi++) {
        gantry_str_t role = br_get_str(h, m, "role");
        if (!br_str_eq(role, "system") && !br_str_eq(role, "developer"))
            continue;
        if (sys == NULL)
            sys = br_arr(c, out, "system");
        const gantry_json_t *content = h->json_get(m, "content");
        size_t before = h->json_count(sys);
        if (h->json_type(content) == GANTRY_JSON_STRING) {
            gantry_str_t s = h->json_string(content);
            if (s.len > 0)
                br_set_str(c, br_push_obj(c, sys), "text", s);
        } else if (h->json_type(content) == GANTRY_JSON_ARRAY) {
            size_t pi = 0;
            for (const gantry_json_t *p = h->json_first(content); p != NULL;
                 p = h->json_next(p), pi++) {
                gantry_str_t text = br_get_str(h, p, "text");
                if (!br_str_eq(br_get_str(h, p, "type"), "text") || text.ptr == NULL) {
                    char what[80];
                    snprintf(what, sizeof(what), "messages[%zu].content[%zu] (system)", mi, pi);
                    if (br_unsupported(c, what, "system messages carry text only") != 0)
                        return -1;
                    continue;
                }
                if (text.len > 0)
                    br_set_str(c, br_push_obj(c, sys), "text", text);
                if (br_has_cache_control(h, p) && h->json_count(sys) > before)
                    br_cache_point(c, sys);
            }
        }
        if (br_has_cache_control(h, m) && h->json_count(sys) > before)
            br_cache_point(c, sys);
    }
    /* Blank system messages leave nothing; an empty "system" list is refused by Bedrock. */
    if (sys != NULL && h->json_count(sys) == 0)
        h->json_remove(out, "system");
    return 0;
}

int br_converse_messages(br_ctx_t *c, const gantry_json_t *msgs, bool nova, gantry_json_t *out,
                         br_history_t *hist)
{
    const gantry_host_t *h = c->host;
    conv_t *v = h->alloc(c->req, sizeof(*v));
    if (v == NULL)
        return br_fail_oom(c);
    memset(v, 0, sizeof(*v));
    v->c = c;
    v->h = h;
    v->nova = nova;
    v->hist = hist;
    memset(hist, 0, sizeof(*hist));
    if (h->json_type(msgs) != GANTRY_JSON_ARRAY) {
        br_bad_request(c, "messages must be an array");
        return -1;
    }
    if (system_blocks(v, msgs, out) != 0)
        return -1;
    v->messages = br_arr(c, out, "messages");
    size_t mi = 0;
    for (const gantry_json_t *m = h->json_first(msgs); m != NULL; m = h->json_next(m), mi++) {
        gantry_str_t role = br_get_str(h, m, "role");
        int rc = 0;
        if (br_str_eq(role, "system") || br_str_eq(role, "developer"))
            continue;
        if (br_str_eq(role, "user"))
            rc = user_message(v, m, mi);
        else if (br_str_eq(role, "assistant"))
            rc = assistant_message(v, m, mi);
        else if (br_str_eq(role, "tool"))
            rc = tool_message(v, m, mi);
        else {
            br_bad_request(c, "messages[%zu]: unsupported role '%.*s'", mi,
                           (int)(role.len > 20 ? 20 : role.len), role.ptr != NULL ? role.ptr : "");
            return -1;
        }
        if (rc != 0)
            return -1;
    }
    /* A turn whose blocks were all empty text leaves an empty content array: Bedrock refuses it. */
    if (h->json_count(v->messages) == 0 && !c->oom) {
        br_bad_request(c, "messages: there is no user or assistant message with content");
        return -1;
    }
    for (const gantry_json_t *m = h->json_first(v->messages); m != NULL; m = h->json_next(m)) {
        if (h->json_count(h->json_get(m, "content")) == 0) {
            br_bad_request(c, "messages: a %.*s turn has no content",
                           (int)br_get_str(h, m, "role").len, br_get_str(h, m, "role").ptr);
            return -1;
        }
    }
    return 0;
}

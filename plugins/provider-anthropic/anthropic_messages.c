/*
 * The anthropic provider: canonical messages -> Messages API `system` and `messages`.
 *
 * Anthropic differs from the canonical shape in ways that decide the structure here:
 *   - system and developer messages are not turns but the top-level `system` (text blocks);
 *   - only `user` and `assistant` turns exist and they must alternate, so consecutive messages
 *     of one role are merged, and tool results (role "tool") are blocks of a user turn;
 *   - content is a list of typed blocks: images and PDFs carry a base64 or URL source, tool calls
 *     are tool_use blocks whose input is a JSON object (not text), and an assistant turn that
 *     thought must send its signed thinking blocks back first;
 *   - a cache_control breakpoint belongs to a block, so one on a whole message goes to the last
 *     block that message produced.
 * Empty text is dropped (Anthropic refuses empty text blocks), and a message that produces no
 * block at all produces no turn.
 */
#include "anthropic.h"

enum { ROLE_NONE = 0, ROLE_USER = 1, ROLE_ASSISTANT = 2 };

typedef struct msg_ctx {
    anth_build_t *b;
    const gantry_host_t *host;
    gantry_json_t *messages;     /* the output "messages" array */
    gantry_json_t *system;       /* the output "system" array, made on first use */
    gantry_json_t *turn_content; /* content array of the last output turn */
    int turn_role;
    gantry_json_t *last_block; /* the last block the current message produced */
    size_t index;              /* of the canonical message, for error messages */
} msg_ctx_t;

/* A new block at the end of a turn of `role`, starting a turn when the last one has another. */
static gantry_json_t *new_block(msg_ctx_t *c, int role)
{
    anth_jb_t *jb = &c->b->jb;
    if (c->turn_role != role || c->turn_content == NULL) {
        gantry_json_t *turn = anth_j_obj(jb, c->messages, NULL);
        anth_j_cstr(jb, turn, "role", role == ROLE_USER ? "user" : "assistant");
        c->turn_content = anth_j_arr(jb, turn, "content");
        c->turn_role = role;
    }
    c->last_block = anth_j_obj(jb, c->turn_content, NULL);
    return c->last_block;
}

static gantry_json_t *new_system_block(msg_ctx_t *c)
{
    if (c->system == NULL)
        c->system = anth_j_arr(&c->b->jb, c->b->out, "system");
    c->last_block = anth_j_obj(&c->b->jb, c->system, NULL);
    return c->last_block;
}

/* Keep a part's prompt-cache breakpoint on the block made from it. */
static void copy_cache_control(msg_ctx_t *c, gantry_json_t *block, const gantry_json_t *part)
{
    const gantry_json_t *cc = c->host->json_get(part, "cache_control");
    if (c->host->json_type(cc) == GANTRY_JSON_OBJECT)
        anth_j_copy(&c->b->jb, block, "cache_control", cc);
}

static void text_block(msg_ctx_t *c, gantry_json_t *block, gantry_str_t text)
{
    anth_j_cstr(&c->b->jb, block, "type", "text");
    anth_j_str(&c->b->jb, block, "text", text);
}

static bool has_prefix_ci(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len < n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s.ptr[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != lit[i])
            return false;
    }
    return true;
}

/*
 * Fill `block` from a URL: data:<type>;base64,<data> becomes a base64 image (image/...) or
 * document (application/pdf) block; http(s) URLs become an image with a url source.
 */
static gantry_action_t media_block(msg_ctx_t *c, gantry_json_t *block, gantry_str_t url,
                                   const char *where, size_t part)
{
    anth_jb_t *jb = &c->b->jb;
    if (has_prefix_ci(url, "http://") || has_prefix_ci(url, "https://")) {
        anth_j_cstr(jb, block, "type", "image");
        gantry_json_t *src = anth_j_obj(jb, block, "source");
        anth_j_cstr(jb, src, "type", "url");
        anth_j_str(jb, src, "url", url);
        return GANTRY_CONTINUE;
    }
    if (!has_prefix_ci(url, "data:"))
        return anth_bad_request(c->b,
                                "messages[%zu].content[%zu]: %s must be a data: URL or an "
                                "http(s) URL",
                                c->index, part, where);

    gantry_str_t rest = {url.ptr + 5, url.len - 5};
    const char *comma = memchr(rest.ptr, ',', rest.len);
    gantry_str_t header = {rest.ptr, comma != NULL ? (size_t)(comma - rest.ptr) : 0};
    static const char b64[] = ";base64";
    if (comma == NULL || header.len < sizeof(b64) - 1 ||
        !has_prefix_ci((gantry_str_t){header.ptr + header.len - (sizeof(b64) - 1), sizeof(b64) - 1},
                       b64))
        return anth_bad_request(c->b,
                                "messages[%zu].content[%zu]: %s must be base64 encoded "
                                "(data:<media type>;base64,...)",
                                c->index, part, where);
    const char *semi = memchr(header.ptr, ';', header.len);
    gantry_str_t media = {header.ptr, (size_t)(semi - header.ptr)};
    gantry_str_t data = {comma + 1, (size_t)(url.ptr + url.len - (comma + 1))};

    const char *type;
    if (has_prefix_ci(media, "image/"))
        type = "image";
    else if (media.len == 15 && has_prefix_ci(media, "application/pdf"))
        type = "document";
    else
        return anth_bad_request(c->b,
                                "messages[%zu].content[%zu]: media type '%.*s' is not supported "
                                "(images and application/pdf are)",
                                c->index, part, (int)(media.len > 100 ? 100 : media.len),
                                media.ptr);
    anth_j_cstr(jb, block, "type", type);
    gantry_json_t *src = anth_j_obj(jb, block, "source");
    anth_j_cstr(jb, src, "type", "base64");
    anth_j_str(jb, src, "media_type", media);
    anth_j_str(jb, src, "data", data);
    return GANTRY_CONTINUE;
}

/* image_url is {"url": ..., "detail": ...} in OpenAI's shape, or a bare string in older clients. */
static gantry_action_t image_part(msg_ctx_t *c, gantry_json_t *block, const gantry_json_t *part,
                                  size_t j)
{
    const gantry_host_t *host = c->host;
    const gantry_json_t *img = host->json_get(part, "image_url");
    if (host->json_type(img) == GANTRY_JSON_OBJECT)
        img = host->json_get(img, "url");
    gantry_str_t url = host->json_string(img);
    if (url.ptr == NULL)
        return anth_bad_request(c->b, "messages[%zu].content[%zu]: image_url.url is required",
                                c->index, j);
    return media_block(c, block, url, "image_url.url", j);
}

/* A file part: inline data (PDF or image), or an Anthropic Files API id. */
static gantry_action_t file_part(msg_ctx_t *c, gantry_json_t *block, const gantry_json_t *part,
                                 size_t j)
{
    const gantry_host_t *host = c->host;
    const gantry_json_t *file = host->json_get(part, "file");
    gantry_str_t data = host->json_string(host->json_get(file, "file_data"));
    gantry_str_t id = host->json_string(host->json_get(file, "file_id"));
    if (data.ptr != NULL) {
        if (!has_prefix_ci(data, "data:"))
            return anth_bad_request(c->b,
                                    "messages[%zu].content[%zu]: file.file_data must be a data: "
                                    "URL",
                                    c->index, j);
        return media_block(c, block, data, "file.file_data", j);
    }
    if (id.len > 0) {
        anth_j_cstr(&c->b->jb, block, "type", "document");
        gantry_json_t *src = anth_j_obj(&c->b->jb, block, "source");
        anth_j_cstr(&c->b->jb, src, "type", "file");
        anth_j_str(&c->b->jb, src, "file_id", id);
        return GANTRY_CONTINUE;
    }
    return anth_bad_request(c->b, "messages[%zu].content[%zu]: file needs file_data or file_id",
                            c->index, j);
}

/*
 * The parts of user content, or of a tool result when `into` is given (then blocks go into that
 * array instead of a user turn).  Text, images and files are what Anthropic takes from a user.
 */
static gantry_action_t user_parts(msg_ctx_t *c, const gantry_json_t *content, gantry_json_t *into)
{
    const gantry_host_t *host = c->host;
    size_t j = 0;
    for (const gantry_json_t *p = host->json_first(content); p != NULL;
         p = host->json_next(p), j++) {
        gantry_str_t type = host->json_string(host->json_get(p, "type"));
        gantry_action_t act = GANTRY_CONTINUE;
        gantry_json_t *block;
        if (host->json_type(p) != GANTRY_JSON_OBJECT || type.ptr == NULL)
            return anth_bad_request(
                c->b, "messages[%zu].content[%zu] must be an object with a type", c->index, j);
        if (anth_str_eq(type, "text")) {
            const gantry_json_t *t = host->json_get(p, "text");
            if (host->json_type(t) != GANTRY_JSON_STRING)
                return anth_bad_request(c->b, "messages[%zu].content[%zu].text must be a string",
                                        c->index, j);
            if (host->json_string(t).len == 0)
                continue;
            block = into != NULL ? anth_j_obj(&c->b->jb, into, NULL) : new_block(c, ROLE_USER);
            text_block(c, block, host->json_string(t));
        } else if (anth_str_eq(type, "image_url")) {
            block = into != NULL ? anth_j_obj(&c->b->jb, into, NULL) : new_block(c, ROLE_USER);
            act = image_part(c, block, p, j);
        } else if (anth_str_eq(type, "file") && into == NULL) {
            block = new_block(c, ROLE_USER);
            act = file_part(c, block, p, j);
        } else {
            return anth_bad_request(c->b,
                                    "messages[%zu].content[%zu]: content of type '%.*s' is not "
                                    "supported by anthropic",
                                    c->index, j, (int)(type.len > 64 ? 64 : type.len), type.ptr);
        }
        if (act != GANTRY_CONTINUE)
            return act;
        copy_cache_control(c, block, p);
    }
    return GANTRY_CONTINUE;
}

static gantry_action_t user_message(msg_ctx_t *c, const gantry_json_t *m)
{
    const gantry_host_t *host = c->host;
    const gantry_json_t *content = host->json_get(m, "content");
    switch (host->json_type(content)) {
    case GANTRY_JSON_STRING:
        if (host->json_string(content).len > 0)
            text_block(c, new_block(c, ROLE_USER), host->json_string(content));
        return GANTRY_CONTINUE;
    case GANTRY_JSON_ARRAY:
        return user_parts(c, content, NULL);
    case GANTRY_JSON_NULL:
    case GANTRY_JSON_INVALID:
        return GANTRY_CONTINUE;
    default:
        return anth_bad_request(c->b, "messages[%zu].content must be a string or an array",
                                c->index);
    }
}

/* System and developer messages: text only, into the top-level system blocks. */
static gantry_action_t system_message(msg_ctx_t *c, const gantry_json_t *m)
{
    const gantry_host_t *host = c->host;
    const gantry_json_t *content = host->json_get(m, "content");
    if (host->json_type(content) == GANTRY_JSON_STRING) {
        if (host->json_string(content).len > 0)
            text_block(c, new_system_block(c), host->json_string(content));
        return GANTRY_CONTINUE;
    }
    if (host->json_type(content) != GANTRY_JSON_ARRAY)
        return anth_bad_request(c->b, "messages[%zu].content must be a string or an array",
                                c->index);
    size_t j = 0;
    for (const gantry_json_t *p = host->json_first(content); p != NULL;
         p = host->json_next(p), j++) {
        gantry_str_t text = host->json_string(host->json_get(p, "text"));
        if (!anth_j_is(host, host->json_get(p, "type"), "text") || text.ptr == NULL)
            return anth_bad_request(c->b,
                                    "messages[%zu].content[%zu]: system messages may only hold "
                                    "text parts",
                                    c->index, j);
        if (text.len == 0)
            continue;
        gantry_json_t *block = new_system_block(c);
        text_block(c, block, text);
        copy_cache_control(c, block, p);
    }
    return GANTRY_CONTINUE;
}

/* Signed thinking from an earlier answer goes back unchanged, before anything else it said. */
static void thinking_blocks(msg_ctx_t *c, const gantry_json_t *m)
{
    const gantry_host_t *host = c->host;
    anth_jb_t *jb = &c->b->jb;
    const gantry_json_t *list = host->json_get(m, "thinking_blocks");
    for (const gantry_json_t *t = host->json_first(list); t != NULL; t = host->json_next(t)) {
        const gantry_json_t *type = host->json_get(t, "type");
        if (anth_j_is(host, type, "thinking")) {
            gantry_json_t *block = new_block(c, ROLE_ASSISTANT);
            anth_j_cstr(jb, block, "type", "thinking");
            anth_j_str(jb, block, "thinking", host->json_string(host->json_get(t, "thinking")));
            const gantry_json_t *sig = host->json_get(t, "signature");
            if (host->json_type(sig) == GANTRY_JSON_STRING)
                anth_j_str(jb, block, "signature", host->json_string(sig));
        } else if (anth_j_is(host, type, "redacted_thinking")) {
            gantry_json_t *block = new_block(c, ROLE_ASSISTANT);
            anth_j_cstr(jb, block, "type", "redacted_thinking");
            anth_j_str(jb, block, "data", host->json_string(host->json_get(t, "data")));
        }
    }
}

static bool is_blank(gantry_str_t s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] != ' ' && s.ptr[i] != '\t' && s.ptr[i] != '\r' && s.ptr[i] != '\n')
            return false;
    }
    return true;
}

/* function.arguments is JSON text; Anthropic wants the object itself as the tool_use input. */
static gantry_action_t tool_input(msg_ctx_t *c, gantry_json_t *block, const gantry_json_t *args,
                                  size_t k)
{
    const gantry_host_t *host = c->host;
    anth_jb_t *jb = &c->b->jb;
    switch (host->json_type(args)) {
    case GANTRY_JSON_INVALID:
    case GANTRY_JSON_NULL:
        anth_j_obj(jb, block, "input");
        return GANTRY_CONTINUE;
    case GANTRY_JSON_OBJECT:
        anth_j_copy(jb, block, "input", args);
        return GANTRY_CONTINUE;
    case GANTRY_JSON_STRING:
        break;
    default:
        return anth_bad_request(c->b,
                                "messages[%zu].tool_calls[%zu].function.arguments must be JSON "
                                "text",
                                c->index, k);
    }
    gantry_str_t text = host->json_string(args);
    if (is_blank(text)) {
        anth_j_obj(jb, block, "input");
        return GANTRY_CONTINUE;
    }
    gantry_json_t *input = host->json_parse(c->b->jb.req, text);
    if (host->json_type(input) != GANTRY_JSON_OBJECT) {
        host->json_release(c->b->jb.req, input);
        return anth_bad_request(c->b,
                                "messages[%zu].tool_calls[%zu].function.arguments is not a JSON "
                                "object",
                                c->index, k);
    }
    if (!jb->failed && host->json_attach(jb->req, block, "input", input) != GANTRY_OK)
        jb->failed = true;
    return GANTRY_CONTINUE;
}

static gantry_action_t tool_calls(msg_ctx_t *c, const gantry_json_t *m)
{
    const gantry_host_t *host = c->host;
    anth_jb_t *jb = &c->b->jb;
    const gantry_json_t *calls = host->json_get(m, "tool_calls");
    gantry_json_type_t t = host->json_type(calls);
    if (t == GANTRY_JSON_INVALID || t == GANTRY_JSON_NULL)
        return GANTRY_CONTINUE;
    if (t != GANTRY_JSON_ARRAY)
        return anth_bad_request(c->b, "messages[%zu].tool_calls must be an array", c->index);
    size_t k = 0;
    for (const gantry_json_t *call = host->json_first(calls); call != NULL;
         call = host->json_next(call), k++) {
        const gantry_json_t *fn = host->json_get(call, "function");
        gantry_str_t id = host->json_string(host->json_get(call, "id"));
        gantry_str_t name = host->json_string(host->json_get(fn, "name"));
        if (id.len == 0 || name.len == 0)
            return anth_bad_request(c->b,
                                    "messages[%zu].tool_calls[%zu] needs an id and a "
                                    "function.name",
                                    c->index, k);
        gantry_json_t *block = new_block(c, ROLE_ASSISTANT);
        anth_j_cstr(jb, block, "type", "tool_use");
        anth_j_str(jb, block, "id", id);
        anth_j_str(jb, block, "name", name);
        gantry_action_t act = tool_input(c, block, host->json_get(fn, "arguments"), k);
        if (act != GANTRY_CONTINUE)
            return act;
        copy_cache_control(c, block, call);
    }
    return GANTRY_CONTINUE;
}

static gantry_action_t assistant_message(msg_ctx_t *c, const gantry_json_t *m)
{
    const gantry_host_t *host = c->host;
    const gantry_json_t *content = host->json_get(m, "content");

    thinking_blocks(c, m);
    switch (host->json_type(content)) {
    case GANTRY_JSON_STRING:
        if (!is_blank(host->json_string(content)))
            text_block(c, new_block(c, ROLE_ASSISTANT), host->json_string(content));
        break;
    case GANTRY_JSON_ARRAY: {
        size_t j = 0;
        for (const gantry_json_t *p = host->json_first(content); p != NULL;
             p = host->json_next(p), j++) {
            gantry_str_t type = host->json_string(host->json_get(p, "type"));
            gantry_str_t text = host->json_string(host->json_get(p, "text"));
            /* A refusal part is the model's own earlier words: it goes back as text. */
            if (anth_str_eq(type, "refusal"))
                text = host->json_string(host->json_get(p, "refusal"));
            else if (!anth_str_eq(type, "text"))
                return anth_bad_request(c->b,
                                        "messages[%zu].content[%zu]: assistant messages may only "
                                        "hold text parts",
                                        c->index, j);
            if (text.len == 0)
                continue;
            gantry_json_t *block = new_block(c, ROLE_ASSISTANT);
            text_block(c, block, text);
            copy_cache_control(c, block, p);
        }
        break;
    }
    case GANTRY_JSON_NULL:
    case GANTRY_JSON_INVALID:
        break;
    default:
        return anth_bad_request(c->b, "messages[%zu].content must be a string or an array",
                                c->index);
    }
    return tool_calls(c, m);
}

/* A tool result is a tool_result block of a user turn; consecutive results share the turn. */
static gantry_action_t tool_message(msg_ctx_t *c, const gantry_json_t *m)
{
    const gantry_host_t *host = c->host;
    anth_jb_t *jb = &c->b->jb;
    gantry_str_t id = host->json_string(host->json_get(m, "tool_call_id"));
    if (id.len == 0)
        return anth_bad_request(c->b, "messages[%zu].tool_call_id is required", c->index);
    gantry_json_t *block = new_block(c, ROLE_USER);
    anth_j_cstr(jb, block, "type", "tool_result");
    anth_j_str(jb, block, "tool_use_id", id);

    const gantry_json_t *content = host->json_get(m, "content");
    switch (host->json_type(content)) {
    case GANTRY_JSON_STRING:
        anth_j_str(jb, block, "content", host->json_string(content));
        return GANTRY_CONTINUE;
    case GANTRY_JSON_ARRAY: {
        gantry_action_t act = user_parts(c, content, anth_j_arr(jb, block, "content"));
        c->last_block = block; /* user_parts() points it at the inner blocks */
        return act;
    }
    case GANTRY_JSON_NULL:
    case GANTRY_JSON_INVALID:
        return GANTRY_CONTINUE;
    default:
        return anth_bad_request(c->b, "messages[%zu].content must be a string or an array",
                                c->index);
    }
}

static gantry_action_t one_message(msg_ctx_t *c, const gantry_json_t *m)
{
    const gantry_host_t *host = c->host;
    gantry_str_t role = host->json_string(host->json_get(m, "role"));
    if (host->json_type(m) != GANTRY_JSON_OBJECT || role.ptr == NULL)
        return anth_bad_request(c->b, "messages[%zu] must be an object with a role", c->index);
    if (anth_str_eq(role, "system") || anth_str_eq(role, "developer"))
        return system_message(c, m);
    if (anth_str_eq(role, "user"))
        return user_message(c, m);
    if (anth_str_eq(role, "assistant"))
        return assistant_message(c, m);
    if (anth_str_eq(role, "tool"))
        return tool_message(c, m);
    return anth_bad_request(c->b, "messages[%zu]: role '%.*s' is not supported by anthropic",
                            c->index, (int)(role.len > 32 ? 32 : role.len), role.ptr);
}

gantry_action_t anth_build_messages(anth_build_t *b)
{
    const gantry_host_t *host = b->jb.host;
    const gantry_json_t *list = host->json_get(b->in, "messages");
    if (host->json_type(list) != GANTRY_JSON_ARRAY)
        return anth_bad_request(b, "messages must be an array");

    msg_ctx_t c = {.b = b, .host = host};
    c.messages = anth_j_arr(&b->jb, b->out, "messages");
    for (const gantry_json_t *m = host->json_first(list); m != NULL;
         m = host->json_next(m), c.index++) {
        c.last_block = NULL;
        gantry_action_t act = one_message(&c, m);
        if (act != GANTRY_CONTINUE)
            return act;
        /* A breakpoint on the whole message marks the end of what it produced. */
        const gantry_json_t *cc = host->json_get(m, "cache_control");
        if (c.last_block != NULL && host->json_type(cc) == GANTRY_JSON_OBJECT)
            anth_j_copy(&b->jb, c.last_block, "cache_control", cc);
    }
    return GANTRY_CONTINUE;
}

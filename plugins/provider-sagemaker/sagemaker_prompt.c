/*
 * The sagemaker provider: rendering chat messages into the single prompt a text-generation
 * container takes.  The container applies no chat template of its own on this route, so the
 * gateway writes the model family's format: Llama 3 (the default), Llama 2, Mistral, ChatML, a
 * plain "role: content" transcript, or LiteLLM's custom template (roles with pre/post text).
 * Every format ends by opening the assistant's turn, so the model answers instead of continuing
 * the user's text.
 */
#include "sagemaker.h"

/* The prompt being written, in arena memory that doubles as it grows. */
typedef struct pbuf {
    const gantry_host_t *host;
    gantry_req_t *req;
    char *p;
    size_t len, cap;
    bool failed;
} pbuf_t;

static void put(pbuf_t *b, const char *s, size_t n)
{
    if (b->failed || n == 0)
        return;
    if (n > b->cap - b->len || b->cap == 0) {
        size_t cap = b->cap < 1024 ? 1024 : b->cap;
        while (cap - b->len < n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->failed = true;
                return;
            }
            cap *= 2;
        }
        char *np = b->host->alloc(b->req, cap);
        if (np == NULL) {
            b->failed = true;
            return;
        }
        if (b->len > 0)
            memcpy(np, b->p, b->len);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void puts_lit(pbuf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_str(pbuf_t *b, gantry_str_t s)
{
    put(b, s.ptr, s.len);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static gantry_str_t trim(gantry_str_t s)
{
    while (s.len > 0 && is_space(s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && is_space(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

/* One message as the templates see it: a role and its text. */
typedef struct msg {
    int role; /* SM_ROLE_* */
    gantry_str_t text;
} msg_t;

typedef struct render {
    const sm_instance_t *inst;
    gantry_req_t *req;
    bool drop;
    msg_t *msgs;
    size_t n;
} render_t;

static int role_of(gantry_str_t r)
{
    if (sm_str_eq(r, "system") || sm_str_eq(r, "developer"))
        return SM_ROLE_SYSTEM;
    if (sm_str_eq(r, "user"))
        return SM_ROLE_USER;
    if (sm_str_eq(r, "assistant"))
        return SM_ROLE_ASSISTANT;
    if (sm_str_eq(r, "tool") || sm_str_eq(r, "function"))
        return SM_ROLE_TOOL;
    return -1;
}

/*
 * The text of a message's content: a string, or the text parts of an array joined by newlines.
 * Images and files have no place in a text prompt: refused, or left out with drop_params.
 */
static gantry_action_t content_text(render_t *r, const gantry_json_t *content, gantry_str_t *out)
{
    const gantry_host_t *host = r->inst->host;
    switch (host->json_type(content)) {
    case GANTRY_JSON_STRING:
        *out = host->json_string(content);
        return GANTRY_CONTINUE;
    case GANTRY_JSON_NULL:
    case GANTRY_JSON_INVALID:
        *out = (gantry_str_t){"", 0};
        return GANTRY_CONTINUE;
    case GANTRY_JSON_ARRAY:
        break;
    default:
        return host->req_fail(r->req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", NULL,
                              "message content must be a string or an array of parts");
    }
    pbuf_t b = {.host = host, .req = r->req};
    bool first = true;
    for (const gantry_json_t *p = host->json_first(content); p != NULL; p = host->json_next(p)) {
        gantry_str_t type = host->json_string(host->json_get(p, "type"));
        if (!sm_str_eq(type, "text")) {
            if (r->drop)
                continue;
            return sm_unsupported(r->inst, r->req, "messages",
                                  "a text-generation prompt carries text parts only");
        }
        if (!first)
            put(&b, "\n", 1);
        put_str(&b, host->json_string(host->json_get(p, "text")));
        first = false;
    }
    if (b.failed)
        return sm_internal(r->inst, r->req, "could not render the prompt", GANTRY_ENOMEM);
    *out = (gantry_str_t){b.p != NULL ? b.p : "", b.len};
    return GANTRY_CONTINUE;
}

/* Collect the messages the template will write; tool traffic is refused or dropped. */
static gantry_action_t collect(render_t *r, const gantry_json_t *messages)
{
    const gantry_host_t *host = r->inst->host;
    if (host->json_type(messages) != GANTRY_JSON_ARRAY)
        return host->req_fail(r->req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", NULL,
                              "messages must be an array");
    size_t count = host->json_count(messages);
    r->msgs = host->alloc(r->req, (count > 0 ? count : 1) * sizeof(*r->msgs));
    if (r->msgs == NULL)
        return sm_internal(r->inst, r->req, "could not render the prompt", GANTRY_ENOMEM);
    r->n = 0;
    for (const gantry_json_t *m = host->json_first(messages); m != NULL; m = host->json_next(m)) {
        int role = role_of(host->json_string(host->json_get(m, "role")));
        if (role < 0)
            return host->req_fail(r->req, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error",
                                  NULL, "unknown message role");
        if (role == SM_ROLE_TOOL ||
            (role == SM_ROLE_ASSISTANT && host->json_count(host->json_get(m, "tool_calls")) > 0)) {
            if (!r->drop)
                return sm_unsupported(r->inst, r->req, "messages",
                                      "tool calls and tool results need a Messages API "
                                      "container (sagemaker_chat/)");
            if (role == SM_ROLE_TOOL)
                continue;
        }
        gantry_str_t text;
        gantry_action_t act = content_text(r, host->json_get(m, "content"), &text);
        if (act != GANTRY_CONTINUE)
            return act;
        r->msgs[r->n++] = (msg_t){role, text};
    }
    return GANTRY_CONTINUE;
}

static const char *const role_word[SM_ROLE_COUNT] = {"system", "user", "assistant", "tool"};

static void render_llama3(const render_t *r, pbuf_t *b)
{
    puts_lit(b, "<|begin_of_text|>");
    for (size_t i = 0; i < r->n; i++) {
        puts_lit(b, "<|start_header_id|>");
        puts_lit(b, role_word[r->msgs[i].role]);
        puts_lit(b, "<|end_header_id|>\n\n");
        /* Meta's template trims every message. */
        put_str(b, trim(r->msgs[i].text));
        puts_lit(b, "<|eot_id|>");
    }
    puts_lit(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* The system messages, joined: Llama 2 and Mistral put them into the first user turn. */
static void put_system(const render_t *r, pbuf_t *b)
{
    bool first = true;
    for (size_t i = 0; i < r->n; i++) {
        if (r->msgs[i].role != SM_ROLE_SYSTEM)
            continue;
        if (!first)
            put(b, "\n", 1);
        put_str(b, r->msgs[i].text);
        first = false;
    }
}

static bool has_system(const render_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (r->msgs[i].role == SM_ROLE_SYSTEM)
            return true;
    }
    return false;
}

/* <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] ... */
static void render_llama2(const render_t *r, pbuf_t *b)
{
    bool sys_pending = has_system(r);
    for (size_t i = 0; i < r->n; i++) {
        const msg_t *m = &r->msgs[i];
        if (m->role == SM_ROLE_SYSTEM)
            continue;
        if (m->role == SM_ROLE_ASSISTANT) {
            put(b, " ", 1);
            put_str(b, trim(m->text));
            puts_lit(b, " </s>");
            continue;
        }
        puts_lit(b, "<s>[INST] ");
        if (sys_pending) {
            puts_lit(b, "<<SYS>>\n");
            put_system(r, b);
            puts_lit(b, "\n<</SYS>>\n\n");
            sys_pending = false;
        }
        put_str(b, trim(m->text));
        puts_lit(b, " [/INST]");
    }
    if (sys_pending) {
        /* Only system text: it still opens a turn the model answers. */
        puts_lit(b, "<s>[INST] <<SYS>>\n");
        put_system(r, b);
        puts_lit(b, "\n<</SYS>>\n\n [/INST]");
    }
}

/* <s>[INST] {system}\n\n{user} [/INST]{assistant}</s>[INST] {user} [/INST] */
static void render_mistral(const render_t *r, pbuf_t *b)
{
    bool sys_pending = has_system(r);
    puts_lit(b, "<s>");
    for (size_t i = 0; i < r->n; i++) {
        const msg_t *m = &r->msgs[i];
        if (m->role == SM_ROLE_SYSTEM)
            continue;
        if (m->role == SM_ROLE_ASSISTANT) {
            put_str(b, trim(m->text));
            puts_lit(b, "</s>");
            continue;
        }
        puts_lit(b, "[INST] ");
        if (sys_pending) {
            put_system(r, b);
            puts_lit(b, "\n\n");
            sys_pending = false;
        }
        put_str(b, trim(m->text));
        puts_lit(b, " [/INST]");
    }
    if (sys_pending) {
        puts_lit(b, "[INST] ");
        put_system(r, b);
        puts_lit(b, " [/INST]");
    }
}

static void render_chatml(const render_t *r, pbuf_t *b)
{
    for (size_t i = 0; i < r->n; i++) {
        puts_lit(b, "<|im_start|>");
        puts_lit(b, role_word[r->msgs[i].role]);
        put(b, "\n", 1);
        put_str(b, r->msgs[i].text);
        puts_lit(b, "<|im_end|>\n");
    }
    puts_lit(b, "<|im_start|>assistant\n");
}

static void render_plain(const render_t *r, pbuf_t *b)
{
    for (size_t i = 0; i < r->n; i++) {
        puts_lit(b, role_word[r->msgs[i].role]);
        puts_lit(b, ": ");
        put_str(b, r->msgs[i].text);
        put(b, "\n", 1);
    }
    puts_lit(b, "assistant:");
}

static void render_custom(const render_t *r, const sm_deployment_t *dep, pbuf_t *b)
{
    put_str(b, dep->initial_prompt);
    for (size_t i = 0; i < r->n; i++) {
        const sm_role_text_t *rt = &dep->roles[r->msgs[i].role];
        put_str(b, rt->pre);
        put_str(b, r->msgs[i].text);
        put_str(b, rt->post);
    }
    put_str(b, dep->final_prompt);
}

gantry_action_t sm_render_prompt(const sm_instance_t *inst, const sm_deployment_t *dep,
                                 gantry_req_t *req, const gantry_json_t *messages, bool drop,
                                 gantry_str_t *out)
{
    render_t r = {.inst = inst, .req = req, .drop = drop};
    gantry_action_t act = collect(&r, messages);
    if (act != GANTRY_CONTINUE)
        return act;

    pbuf_t b = {.host = inst->host, .req = req};
    switch (dep->tpl) {
    case SM_TPL_LLAMA3:
        render_llama3(&r, &b);
        break;
    case SM_TPL_LLAMA2:
        render_llama2(&r, &b);
        break;
    case SM_TPL_MISTRAL:
        render_mistral(&r, &b);
        break;
    case SM_TPL_CHATML:
        render_chatml(&r, &b);
        break;
    case SM_TPL_PLAIN:
        render_plain(&r, &b);
        break;
    case SM_TPL_CUSTOM:
        render_custom(&r, dep, &b);
        break;
    }
    if (b.failed)
        return sm_internal(inst, req, "could not render the prompt", GANTRY_ENOMEM);
    *out = (gantry_str_t){b.p != NULL ? b.p : "", b.len};
    return GANTRY_CONTINUE;
}

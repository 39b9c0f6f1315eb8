/*
 * hello-guardrail: the smallest useful Gantry guardrail, built out of tree against the installed SDK.
 *
 * It blocks every chat request whose prompt contains a configured word:
 *
 *   plugins:
 *     load:
 *       - plugin: /path/to/hello-guardrail.so
 *         name: hello-guardrail
 *         config: {word: banana}
 *
 * It shows the whole life of a plugin: the one exported symbol and its descriptor, a config schema
 * the core checks before create(), instance state that is read-only once created (so every worker
 * thread shares it without locks), a phase callback that reads the request only through the host
 * table, and the error it answers with.  It links no Gantry library: everything it needs from the
 * core comes through `host`.
 */
#include <gantry/gantry.h>

#include <string.h>

typedef struct hello {
    const gantry_host_t *host;
    gantry_instance_t *self;
    /* The instance's `name:`; what x-gantry-applied-guardrails and the error message show. */
    const char *name;
    /* Borrowed from the config, whose nodes and strings live as long as the instance. */
    gantry_str_t word;
} hello_t;

/* True when `needle` (not empty) occurs in hay[0, len).  Exact bytes: no case folding. */
static bool contains(const char *hay, size_t len, gantry_str_t needle)
{
    if (hay == NULL || needle.len > len)
        return false;
    for (size_t i = 0; i + needle.len <= len; i++) {
        if (hay[i] == needle.ptr[0] && memcmp(hay + i, needle.ptr, needle.len) == 0)
            return true;
    }
    return false;
}

static bool str_is(gantry_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.ptr != NULL && s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/*
 * A message's `content` is either a string or, for multimodal requests, an array of parts of which
 * the {"type": "text", "text": ...} ones carry prompt text.  Both forms reach the model, so both are
 * checked; a guardrail that looked only at strings would be bypassed by wrapping the text in a part.
 */
static bool content_has_word(const hello_t *h, const gantry_json_t *content)
{
    const gantry_host_t *host = h->host;
    gantry_str_t s;

    switch (host->json_type(content)) {
    case GANTRY_JSON_STRING:
        s = host->json_string(content);
        return contains(s.ptr, s.len, h->word);
    case GANTRY_JSON_ARRAY:
        for (gantry_json_t *part = host->json_first(content); part != NULL;
             part = host->json_next(part)) {
            if (host->json_type(part) != GANTRY_JSON_OBJECT ||
                !str_is(host->json_string(host->json_get(part, "type")), "text"))
                continue;
            s = host->json_string(host->json_get(part, "text"));
            if (contains(s.ptr, s.len, h->word))
                return true;
        }
        return false;
    default:
        return false;
    }
}

/* GUARD_PRE: runs on the request's worker thread before the upstream call; must not block. */
static gantry_action_t hello_check_request(gantry_req_t *req, void *state, void *worker_state)
{
    const hello_t *h = state;
    const gantry_host_t *host = h->host;
    gantry_json_t *messages = host->json_get(host->req_body(req), "messages");

    (void)worker_state; /* no worker_init(), so always NULL */
    if (host->json_type(messages) != GANTRY_JSON_ARRAY)
        return GANTRY_CONTINUE; /* the core has already refused requests without messages */
    /* Every role is checked: system and tool messages reach the model just as user ones do. */
    for (gantry_json_t *msg = host->json_first(messages); msg != NULL; msg = host->json_next(msg)) {
        if (host->json_type(msg) != GANTRY_JSON_OBJECT ||
            !content_has_word(h, host->json_get(msg, "content")))
            continue;
        /* Noted before failing, so the client can tell which guardrail answered. */
        host->req_note_guardrail(req, h->name);
        /* The word itself is not echoed: the configuration is not the client's business. */
        return host->req_fail(req, 400, GANTRY_ERR_GUARDRAIL, "guardrail_violation",
                              "blocked_word",
                              "Request blocked by guardrail '%s': the prompt contains a blocked word",
                              h->name);
    }
    return GANTRY_CONTINUE;
}

/* Main thread, once per configured instance.  `conf` has already been checked against the schema. */
static int hello_create(const gantry_host_t *host, gantry_instance_t *self, const gantry_conf_t *conf,
                        void **state)
{
    const gantry_conf_t *node = conf != NULL ? host->conf_get(conf, "word") : NULL;
    gantry_str_t word;
    hello_t *h;

    /* The schema makes `word` a required string, so this only fails if a newer core changed that. */
    if (node == NULL || host->conf_string(node, &word) != GANTRY_OK)
        return host->conf_error(conf, "hello-guardrail: `word` must be a string");
    /* An empty word is in every prompt: blocking everything is surely not what was meant. */
    if (word.len == 0)
        return host->conf_error(node, "hello-guardrail: `word` must not be empty");

    h = host->mem_calloc(1, sizeof *h);
    if (h == NULL)
        return GANTRY_ENOMEM;
    h->host = host;
    h->self = self;
    h->name = host->instance_name(self);
    h->word = word;
    host->log(self, NULL, GANTRY_LOG_DEBUG, "blocking prompts that contain a %zu-byte word", word.len);
    *state = h;
    return GANTRY_OK;
}

/* Main thread, after the last request that used the instance has finished. */
static void hello_destroy(void *state)
{
    hello_t *h = state;

    if (h != NULL)
        h->host->mem_free(h);
}

static const gantry_conf_field_t hello_fields[] = {
    {"word", GANTRY_CONF_STRING, GANTRY_CONF_REQUIRED, "block prompts that contain this text"},
    {NULL, GANTRY_CONF_ANY, 0, NULL},
};

/* Entries left out are NULL: this guardrail checks requests only. */
static const gantry_ops_t hello_ops = {
    .size = sizeof(gantry_ops_t),
    .create = hello_create,
    .destroy = hello_destroy,
    .check_request = hello_check_request,
};

static const gantry_plugin_desc_t hello_desc = {
    .size = sizeof(gantry_plugin_desc_t),
    .abi_major = GANTRY_ABI_MAJOR,
    .abi_minor = GANTRY_ABI_MINOR,
    .kind = GANTRY_KIND_GUARDRAIL,
    .name = "hello-guardrail",
    .version = "0.1.0",
    .summary = "blocks prompts that contain a configured word",
    .flags = 0,
    .config_fields = hello_fields,
    .deployment_fields = NULL,
    .ops = &hello_ops,
};

/* The one exported symbol; -fvisibility=hidden keeps everything else private. */
GANTRY_PLUGIN(&hello_desc)

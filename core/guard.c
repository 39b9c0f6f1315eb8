/*
 * guard: guardrail selection, modes, fail-open and deferred verdicts (see guard.h).
 */
#include "guard.h"

#include <string.h>

#include "gov.h"
#include "log.h"
#include "pipe.h"
#include "srv.h"
#include "upstream.h"

static guard_state_t *state(req_t *r)
{
    if (r->guard != NULL)
        return r->guard;
    guard_state_t *g = arena_alloc(&r->arena, sizeof *g);
    bool *on = arena_alloc(&r->arena, (r->gen->ninsts + 1) * sizeof *on);
    if (g == NULL || on == NULL)
        return NULL;
    memset(g, 0, sizeof *g);
    for (size_t i = 0; i < r->gen->ninsts; i++)
        on[i] = r->gen->insts[i]->guard_default_on;
    g->on = on;
    r->guard = g;
    return g;
}

static inst_t *find_guard(const req_t *r, const char *name)
{
    size_t n = r->gen->nkind[GANTRY_KIND_GUARDRAIL];
    for (size_t i = 0; i < n; i++) {
        inst_t *in = r->gen->by_kind[GANTRY_KIND_GUARDRAIL][i];
        if (strcmp(in->name, name) == 0)
            return in;
    }
    return NULL;
}

static bool refuse(req_t *r, const char *code, const char *fmt, const char *name)
{
    char msg[300];
    snprintf(msg, sizeof msg, fmt, name);
    req_set_error(r, 400, GANTRY_ERR_BAD_REQUEST, "invalid_request_error", code, "guardrails",
                  msg);
    return false;
}

/*
 * The guardrails of the caller's key and team (their `guardrails` lists) run on every request of
 * theirs and cannot be switched off by it; `metadata.guardrails.modify_guardrails: false` on the
 * key or team (LiteLLM's name) forbids a request to change the selection at all.  Returns false
 * (with a 403) when the request tries what its key or team forbids.
 */
static bool principal_guards(req_t *r, bool *locked, bool *required)
{
    const gov_ctx_t *gc = r->gov;
    if (gc == NULL)
        return true;
    const gov_rec_t *owners[2] = {gc->ent[GOV_KEY], gc->ent[GOV_TEAM]};
    for (int i = 0; i < 2; i++) {
        const gov_rec_t *o = owners[i];
        if (o == NULL)
            continue;
        const cJSON *mg = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(o->doc, "metadata"), "guardrails");
        if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(mg, "modify_guardrails")))
            *locked = true;
        const cJSON *it;
        cJSON_ArrayForEach(it, o->guardrails)
        {
            inst_t *in = cJSON_IsString(it) ? find_guard(r, it->valuestring) : NULL;
            if (in == NULL) {
                log_msg(LOG_WARN, r->id, "the %s's guardrail '%s' is not configured; skipped",
                        i == 0 ? "key" : "team", cJSON_IsString(it) ? it->valuestring : "?");
                continue;
            }
            guard_state_t *g = state(r);
            if (g == NULL)
                return refuse(r, "internal_error", "request memory exhausted%s", "");
            g->on[in->slot] = true;
            required[in->slot] = true;
        }
    }
    return true;
}

bool guard_select(req_t *r)
{
    if (!cJSON_IsObject(r->body))
        return true;
    bool locked = false;
    bool *required = arena_alloc(&r->arena, (r->gen->ninsts + 1) * sizeof *required);
    if (required == NULL)
        return refuse(r, "internal_error", "request memory exhausted%s", "");
    memset(required, 0, (r->gen->ninsts + 1) * sizeof *required);
    if (!principal_guards(r, &locked, required))
        return false;
    /* LiteLLM takes the selection at the top level or inside metadata. */
    cJSON *sel = cJSON_DetachItemFromObjectCaseSensitive(r->body, "guardrails");
    cJSON *md = cJSON_GetObjectItemCaseSensitive(r->body, "metadata");
    if (sel == NULL && cJSON_IsObject(md))
        sel = cJSON_DetachItemFromObjectCaseSensitive(md, "guardrails");
    if (sel == NULL || cJSON_IsNull(sel)) {
        cJSON_Delete(sel);
        return true;
    }
    if (locked) {
        cJSON_Delete(sel);
        req_set_error(r, 403, GANTRY_ERR_AUTH, "permission_error", "guardrails_locked",
                      "guardrails",
                      "This key's guardrails are fixed by its key or team "
                      "(modify_guardrails: false); a request may not change them.");
        return false;
    }
    bool ok = true;
    guard_state_t *g = state(r);
    if (g == NULL) {
        req_set_error(r, 500, GANTRY_ERR_INTERNAL, "internal_error", NULL, NULL,
                      "request memory exhausted");
        ok = false;
    } else if (cJSON_IsArray(sel) || cJSON_IsObject(sel)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, sel)
        {
            const char *name = cJSON_IsArray(sel) ? (cJSON_IsString(it) ? it->valuestring : NULL)
                                                  : it->string;
            if (name == NULL || (cJSON_IsObject(sel) && !cJSON_IsBool(it))) {
                ok = refuse(r, "invalid_type",
                            "Invalid 'guardrails': a list of guardrail names, or an object of "
                            "name: true|false.%s",
                            "");
                break;
            }
            inst_t *in = find_guard(r, name);
            if (in == NULL) {
                ok = refuse(r, "guardrail_not_found",
                            "Invalid 'guardrails': no guardrail is named '%.100s'.", name);
                break;
            }
            bool want = cJSON_IsArray(sel) || cJSON_IsTrue(it);
            if (!want && required[in->slot]) {
                ok = refuse(r, "guardrail_required",
                            "The guardrail '%.100s' is required by this key or its team.", name);
                break;
            }
            if (!want && in->guard_default_on && !in->guard_allow_disable) {
                ok = refuse(r, "guardrail_required",
                            "The guardrail '%.100s' cannot be switched off for a request.", name);
                break;
            }
            g->on[in->slot] = want;
        }
    } else {
        ok = refuse(r, "invalid_type",
                    "Invalid 'guardrails': a list of guardrail names, or an object of name: "
                    "true|false.%s",
                    "");
    }
    cJSON_Delete(sel);
    return ok;
}

bool guard_runs(const req_t *r, const inst_t *in, unsigned modes)
{
    if ((in->guard_modes & modes) == 0)
        return false;
    return r->guard != NULL ? r->guard->on[in->slot] : in->guard_default_on;
}

gantry_action_t guard_settle(req_t *r, inst_t *in, gantry_action_t act)
{
    if (act != GANTRY_FAIL || in == NULL || r->err.class_ == GANTRY_ERR_GUARDRAIL)
        return act;
    /* Not a verdict: the guardrail itself could not decide (its service failed). */
    log_msg(LOG_WARN, r->id, "guardrail %s failed (%.*s); failing %s", in->name,
            (int)r->err.message.len, r->err.message.ptr ? r->err.message.ptr : "",
            in->guard_fail_open ? "open: the request goes on" : "closed: the request is refused");
    if (!in->guard_fail_open)
        return act;
    r->failed = false;
    memset(&r->err, 0, sizeof r->err);
    return GANTRY_CONTINUE;
}

int guard_defer(req_t *r, inst_t *in, unsigned flags)
{
    guard_state_t *g = state(r);
    if (g == NULL)
        return GANTRY_ENOMEM;
    if (g->ntickets == GUARD_MAX_TICKETS)
        return GANTRY_ELIMIT;
    int t = g->ntickets++;
    g->tickets[t] = (guard_ticket_t){.in = in, .flags = flags};
    g->pending++;
    if (flags & GANTRY_VERDICT_HOLD)
        g->holding++;
    return t;
}

int guard_pending(const req_t *r)
{
    return r->guard != NULL ? r->guard->pending : 0;
}

int guard_holding(const req_t *r)
{
    return r->guard != NULL ? r->guard->holding : 0;
}

void guard_park(req_t *r)
{
    r->guard->parked = true;
}

void guard_defer_end(req_t *r)
{
    r->guard->end_deferred = true;
}

bool guard_failed(const req_t *r)
{
    return r->guard != NULL && r->guard->failed;
}

/* A blocking verdict arrived while the request was going on without it. */
static void block(req_t *r)
{
    guard_state_t *g = r->guard;
    if (!r->failed)
        req_set_error(r, 400, GANTRY_ERR_GUARDRAIL, "guardrail_violation", "guardrail_blocked",
                      NULL, "A guardrail blocked the request.");
    if (r->paused && r->phase != PH_UPSTREAM) {
        /* Another plugin is mid-call; its resume() fails the request (pipe_resume). */
        g->failed = true;
        return;
    }
    g->parked = g->end_deferred = false;
    if (r->phase == PH_UPSTREAM) {
        /* The upstream attempt is abandoned, not failed: the deployment did nothing wrong. */
        gantry_error_t e = r->err;
        r->failed = false;
        pipe_attempt_end(r, false);
        r->failed = true;
        r->err = e;
        req_cancel_timers(r); /* a local provider's pending chunks */
        r->paused = r->preparing = false;
    }
    pipe_fail(r); /* cancels the upstream transfer, answers the error or ends the stream */
}

void guard_deliver(req_t *r, int ticket, gantry_action_t act)
{
    guard_state_t *g = r->guard;
    if (g == NULL || ticket < 0 || ticket >= g->ntickets || g->tickets[ticket].done) {
        log_msg(LOG_WARN, r->id, "a guardrail delivered an unknown or repeated verdict ticket");
        return;
    }
    guard_ticket_t *t = &g->tickets[ticket];
    t->done = true;
    g->pending--;
    if (t->flags & GANTRY_VERDICT_HOLD)
        g->holding--;
    if (r->client_gone || r->final_sent)
        return;
    req_hold(r);
    if (act == GANTRY_FAIL)
        act = guard_settle(r, t->in, act);
    if (act == GANTRY_FAIL) {
        block(r);
    } else {
        if (g->holding == 0)
            resp_stream_release(r); /* what waited for the verdict goes out now */
        if (g->pending == 0 && g->parked) {
            g->parked = false;
            pipe_continue(r);
        } else if (g->pending == 0 && g->end_deferred) {
            g->end_deferred = false;
            pipe_stream_end(r);
        }
    }
    req_release(r);
}

void guard_log_copy(req_t *r)
{
    size_t n = r->gen->nkind[GANTRY_KIND_GUARDRAIL];
    for (size_t i = 0; i < n; i++) {
        inst_t *in = r->gen->by_kind[GANTRY_KIND_GUARDRAIL][i];
        if (!guard_runs(r, in, GANTRY_GUARD_LOGGING_ONLY))
            continue;
        void *ws = in->wstate[r->w->id];
        /* Verdicts mean nothing here, and must not change what the log says of the request: only
         * the masking of the copy counts. */
        bool failed = r->failed;
        gantry_error_t err = r->err;
        r->in_call = true;
        if (r->body != NULL && in->ops->check_request != NULL)
            in->ops->check_request(r, in->state, ws);
        if (r->resp != NULL && in->ops->check_response != NULL)
            in->ops->check_response(r, in->state, ws);
        r->in_call = false;
        r->resume_early = -1;
        r->failed = failed;
        r->err = err;
    }
}

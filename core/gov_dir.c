/*
 * gov_dir: the directory of entities as immutable snapshots.
 *
 * Readers (worker threads) never lock.  Each worker holds a reference on the snapshot it last saw
 * and moves to the newest one when it notices a new version (at a request, and every second from
 * a timer, so an idle worker does not pin old snapshots).  The writer (the store thread, or the
 * main thread before it starts) builds a whole new snapshot per change and publishes it with one
 * atomic store.  The one race - a worker has loaded the pointer of a snapshot the writer is about to
 * drop, and has not yet taken its reference - is closed by the writer keeping its own reference on
 * every replaced snapshot until every worker has announced (seen[]) a version at least as new as
 * the one that replaced it: from then on no worker can still be holding the old pointer unreferenced.
 *
 * A change copies every table's pointers (O(entities)), which is cheap next to the SQLite commit
 * behind it, and management calls are rare next to requests.
 */
#include <stdlib.h>
#include <string.h>

#include "gov_int.h"
#include "log.h"
#include "srv.h"

#define REFRESH_MS 1000

typedef struct tab {
    gov_rec_t **slots; /* open addressing, linear probing; cap is a power of two */
    size_t cap, n;
} tab_t;

struct gov_snap {
    _Atomic int refs;
    uint64_t ver;
    tab_t t[GOV_NKINDS];
    gov_snap_t *next_retired; /* writer's list */
    uint64_t retired_by;      /* the version that replaced it */
};

static struct {
    _Atomic(gov_snap_t *) cur;
    _Atomic uint64_t ver;
    _Atomic uint64_t *seen; /* per worker: the newest version it holds */
    unsigned nworkers;
    gov_snap_t *retired; /* writer only */
} D;

static uint64_t hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void snap_free(gov_snap_t *s)
{
    for (int k = 0; k < GOV_NKINDS; k++) {
        for (size_t i = 0; i < s->t[k].cap; i++)
            gov_unref(s->t[k].slots[i]);
        free(s->t[k].slots);
    }
    free(s);
}

static void snap_unref(gov_snap_t *s)
{
    if (s != NULL && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        snap_free(s);
}

/* ---- readers ---- */

static void refresh(worker_t *w)
{
    gov_snap_t *s = atomic_load_explicit(&D.cur, memory_order_acquire);
    if (s == w->gov_snap)
        return;
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    gov_snap_t *old = w->gov_snap;
    w->gov_snap = s;
    if (D.seen != NULL && w->id < D.nworkers)
        atomic_store_explicit(&D.seen[w->id], s->ver, memory_order_release);
    snap_unref(old);
}

const gov_snap_t *gov_snap(worker_t *w)
{
    if (atomic_load_explicit(&D.cur, memory_order_relaxed) == NULL)
        return NULL;
    if (w->gov_snap == NULL || w->gov_snap->ver != atomic_load_explicit(&D.ver, memory_order_acquire))
        refresh(w);
    return w->gov_snap;
}

gov_rec_t *gov_find(const gov_snap_t *s, gov_kind_t kind, const char *id, size_t len)
{
    if (s == NULL || id == NULL || kind >= GOV_NKINDS)
        return NULL;
    const tab_t *t = &s->t[kind];
    if (t->cap == 0)
        return NULL;
    for (size_t i = hash(id, len) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        gov_rec_t *r = t->slots[i];
        if (r == NULL)
            return NULL;
        if (strlen(r->id) == len && memcmp(r->id, id, len) == 0) {
            gov_ref(r);
            return r;
        }
    }
}

void gov_each(const gov_snap_t *s, gov_kind_t kind, bool (*fn)(const gov_rec_t *, void *), void *arg)
{
    if (s == NULL || kind >= GOV_NKINDS)
        return;
    for (size_t i = 0; i < s->t[kind].cap; i++) {
        if (s->t[kind].slots[i] != NULL && !fn(s->t[kind].slots[i], arg))
            return;
    }
}

static void on_refresh_timer(uv_timer_t *t)
{
    refresh(t->data);
}

int gov_worker_init(worker_t *w)
{
    if (uv_timer_init(&w->loop, &w->gov_timer) != 0)
        return -1;
    w->gov_timer.data = w;
    uv_timer_start(&w->gov_timer, on_refresh_timer, REFRESH_MS, REFRESH_MS);
    uv_unref((uv_handle_t *)&w->gov_timer);
    w->gov_timer_on = true;
    return 0;
}

void gov_worker_fini(worker_t *w)
{
    if (w->gov_timer_on) {
        uv_timer_stop(&w->gov_timer);
        uv_close((uv_handle_t *)&w->gov_timer, NULL);
        w->gov_timer_on = false;
    }
    snap_unref(w->gov_snap);
    w->gov_snap = NULL;
}

/* ---- the writer ---- */

struct gov_change {
    gov_snap_t *s; /* being built: its tables hold references */
};

static bool tab_put(tab_t *t, gov_rec_t *r)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        gov_rec_t **slots = calloc(cap, sizeof *slots);
        if (slots == NULL)
            return false;
        for (size_t i = 0; i < t->cap; i++) {
            gov_rec_t *o = t->slots[i];
            if (o == NULL)
                continue;
            size_t j = hash(o->id, strlen(o->id)) & (cap - 1);
            while (slots[j] != NULL)
                j = (j + 1) & (cap - 1);
            slots[j] = o;
        }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    size_t len = strlen(r->id);
    for (size_t i = hash(r->id, len) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        gov_rec_t *o = t->slots[i];
        if (o == NULL) {
            t->slots[i] = r;
            t->n++;
            return true;
        }
        if (strcmp(o->id, r->id) == 0) {
            t->slots[i] = r;
            gov_unref(o);
            return true;
        }
    }
}

/* Remove by rebuilding the probe run after the slot (linear probing has no tombstones here). */
static void tab_del(tab_t *t, const char *id)
{
    if (t->cap == 0)
        return;
    size_t i = hash(id, strlen(id)) & (t->cap - 1);
    for (; t->slots[i] != NULL; i = (i + 1) & (t->cap - 1)) {
        if (strcmp(t->slots[i]->id, id) == 0)
            break;
    }
    if (t->slots[i] == NULL)
        return;
    gov_unref(t->slots[i]);
    t->slots[i] = NULL;
    t->n--;
    for (size_t j = (i + 1) & (t->cap - 1); t->slots[j] != NULL; j = (j + 1) & (t->cap - 1)) {
        gov_rec_t *o = t->slots[j];
        t->slots[j] = NULL;
        t->n--;
        tab_put(t, o); /* never grows: one slot was freed */
    }
}

gov_change_t *gov_change_begin(void)
{
    gov_change_t *c = calloc(1, sizeof *c);
    gov_snap_t *s = c ? calloc(1, sizeof *s) : NULL;
    if (s == NULL) {
        free(c);
        return NULL;
    }
    atomic_init(&s->refs, 1);
    const gov_snap_t *cur = atomic_load_explicit(&D.cur, memory_order_acquire);
    for (int k = 0; cur != NULL && k < GOV_NKINDS; k++) {
        tab_t *t = &s->t[k];
        if (cur->t[k].cap == 0)
            continue;
        t->slots = malloc(cur->t[k].cap * sizeof *t->slots);
        if (t->slots == NULL) {
            snap_free(s);
            free(c);
            return NULL;
        }
        memcpy(t->slots, cur->t[k].slots, cur->t[k].cap * sizeof *t->slots);
        t->cap = cur->t[k].cap;
        t->n = cur->t[k].n;
        for (size_t i = 0; i < t->cap; i++)
            gov_ref(t->slots[i]);
    }
    c->s = s;
    return c;
}

const gov_rec_t *gov_change_get(gov_change_t *c, gov_kind_t kind, const char *id)
{
    gov_rec_t *r = gov_find(c->s, kind, id, strlen(id));
    gov_unref(r); /* the change's table still holds one */
    return r;
}

void gov_change_put(gov_change_t *c, gov_rec_t *rec)
{
    if (rec->cell == NULL) {
        gov_rec_t *old = gov_find(c->s, rec->kind, rec->id, strlen(rec->id));
        if (old != NULL) {
            rec->cell = old->cell;
            atomic_fetch_add(&rec->cell->refs, 1);
            gov_unref(old);
        } else {
            rec->cell = calloc(1, sizeof *rec->cell);
            if (rec->cell == NULL) {
                log_error("governance: out of memory; %s %s not changed", gov_kind_name(rec->kind),
                          rec->id);
                gov_unref(rec);
                return;
            }
            atomic_init(&rec->cell->refs, 1);
        }
    }
    if (!tab_put(&c->s->t[rec->kind], rec)) {
        log_error("governance: out of memory; %s %s not changed", gov_kind_name(rec->kind), rec->id);
        gov_unref(rec);
    }
}

void gov_change_del(gov_change_t *c, gov_kind_t kind, const char *id)
{
    tab_del(&c->s->t[kind], id);
}

void gov_change_abort(gov_change_t *c)
{
    if (c == NULL)
        return;
    snap_free(c->s);
    free(c);
}

/* Drop the writer's reference on replaced snapshots no worker can still be reaching for. */
static void reclaim(void)
{
    uint64_t min = UINT64_MAX;
    for (unsigned i = 0; D.seen != NULL && i < D.nworkers; i++) {
        uint64_t v = atomic_load_explicit(&D.seen[i], memory_order_acquire);
        if (v < min)
            min = v;
    }
    gov_snap_t **pp = &D.retired;
    while (*pp != NULL) {
        gov_snap_t *s = *pp;
        if (s->retired_by <= min) {
            *pp = s->next_retired;
            snap_unref(s);
        } else {
            pp = &s->next_retired;
        }
    }
}

void gov_change_publish(gov_change_t *c)
{
    gov_snap_t *old = atomic_load_explicit(&D.cur, memory_order_acquire);
    c->s->ver = atomic_load_explicit(&D.ver, memory_order_relaxed) + 1;
    atomic_store_explicit(&D.cur, c->s, memory_order_release);
    atomic_store_explicit(&D.ver, c->s->ver, memory_order_release);
    free(c);
    if (old != NULL) {
        old->retired_by = old->ver + 1;
        old->next_retired = D.retired;
        D.retired = old;
    }
    reclaim();
}

int gov_dir_init(unsigned nworkers)
{
    D.nworkers = nworkers;
    D.seen = calloc(nworkers ? nworkers : 1, sizeof *D.seen);
    return D.seen != NULL ? 0 : -1;
}

void gov_shutdown(void)
{
    /* The workers have stopped and dropped their snapshots (gov_worker_fini). */
    for (unsigned i = 0; D.seen != NULL && i < D.nworkers; i++)
        atomic_store(&D.seen[i], UINT64_MAX);
    reclaim();
    snap_unref(atomic_exchange(&D.cur, NULL));
    gov_req_fini();
    gov_alert_fini();
    gov_model_cells_fini();
    free(D.seen);
    D.seen = NULL;
}

/* ---- per-model spend of keys (model_max_budget) ---- */

/*
 * A fixed table of cells for "<key hash>|<model group>", filled lazily and never emptied: only
 * keys with a model_max_budget use it, so it stays small; a full table stops tracking new pairs
 * (with a warning) rather than grow.  Inserts race only on a slot's name, settled by one CAS.
 */
#define MODEL_CELLS 65536

typedef struct model_slot {
    _Atomic(char *) name;
    gov_cell_t cell;
} model_slot_t;

static model_slot_t *model_cells;

gov_cell_t *gov_model_cell(const char *key_id, const char *group)
{
    if (model_cells == NULL)
        return NULL;
    char name[256];
    int n = snprintf(name, sizeof name, "%s|%s", key_id, group);
    if (n < 0 || (size_t)n >= sizeof name)
        return NULL;
    uint64_t h = hash(name, (size_t)n);
    for (size_t probe = 0; probe < 64; probe++) {
        model_slot_t *s = &model_cells[(h + probe) & (MODEL_CELLS - 1)];
        char *cur = atomic_load_explicit(&s->name, memory_order_acquire);
        if (cur == NULL) {
            char *mine = strdup(name);
            if (mine == NULL)
                return NULL;
            if (atomic_compare_exchange_strong(&s->name, &cur, mine))
                return &s->cell;
            free(mine); /* another thread took the slot: cur is its name */
        }
        if (strcmp(cur, name) == 0)
            return &s->cell;
    }
    static atomic_bool warned;
    if (!atomic_exchange(&warned, true))
        log_warn("model_max_budget: too many key and model pairs; new ones are not tracked");
    return NULL;
}

int gov_model_cells_init(void)
{
    if (model_cells == NULL)
        model_cells = calloc(MODEL_CELLS, sizeof *model_cells);
    return model_cells != NULL ? 0 : -1;
}

void gov_model_cells_fini(void)
{
    for (size_t i = 0; model_cells != NULL && i < MODEL_CELLS; i++)
        free(atomic_load(&model_cells[i].name));
    free(model_cells);
    model_cells = NULL;
}

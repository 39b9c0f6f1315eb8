#include "router.h"

#include "srv.h"

uint64_t rt_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

deployment_t *rt_pick(req_t *r)
{
    group_t *g = r->group;
    if (g == NULL || g->ndeps == 0)
        return NULL;
    if (g->ndeps == 1)
        return g->deps[0];
    /* simple-shuffle: random, weighted by `weight` (every deployment defaults to 1). */
    double total = g->total_weight;
    if (total <= 0)
        return g->deps[rt_rand(&r->w->rng) % g->ndeps];
    double x = (double)(rt_rand(&r->w->rng) >> 11) * (1.0 / 9007199254740992.0) * total;
    for (size_t i = 0; i < g->ndeps; i++) {
        x -= g->deps[i]->cfg->weight;
        if (x < 0)
            return g->deps[i];
    }
    return g->deps[g->ndeps - 1];
}

/*
 * The fake provider: the text of an answer, one token at a time.  A token is one word with the
 * whitespace before it, so the tokens joined give the answer back exactly.  Generated answers pick
 * words from a fixed list by a hash of the prompt; configured answers are cut at word boundaries.
 */
#include "fake.h"

/* clang-format off */
#define W(s) {s, sizeof(s) - 1}
/* clang-format on */

/* Each word carries its leading space; the first token of an answer skips it. */
static const gantry_str_t word_list[] = {
    W(" the"),     W(" quick"),    W(" brown"),   W(" fox"),     W(" jumps"),   W(" over"),
    W(" lazy"),    W(" dog"),      W(" gateway"), W(" model"),   W(" token"),   W(" stream"),
    W(" answer"),  W(" request"),  W(" prompt"),  W(" cache"),   W(" route"),   W(" retry"),
    W(" latency"), W(" budget"),   W(" policy"),  W(" guard"),   W(" logic"),   W(" signal"),
    W(" river"),   W(" mountain"), W(" cloud"),   W(" light"),   W(" shadow"),  W(" garden"),
    W(" window"),  W(" bridge"),   W(" harbor"),  W(" lantern"), W(" meadow"),  W(" orbit"),
    W(" pattern"), W(" quiet"),    W(" rapid"),   W(" silver"),  W(" timber"),  W(" upper"),
    W(" vivid"),   W(" winter"),   W(" yellow"),  W(" zenith"),  W(" amber"),   W(" copper"),
    W(" delta"),   W(" echo"),     W(" fable"),   W(" granite"), W(" horizon"), W(" island"),
    W(" jasmine"), W(" kernel"),   W(" ledger"),  W(" marble"),  W(" nectar"),  W(" ocean"),
    W(" pepper"),  W(" quartz"),   W(" ribbon"),  W(" summit"),
};

#define N_WORDS (sizeof(word_list) / sizeof(word_list[0]))

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* splitmix64's finaliser: a cheap, well-spread mix, so that token i needs no state but i. */
static uint64_t mix(uint64_t x)
{
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void fake_words_init(fake_words_t *w, const fake_deployment_t *dep, uint64_t seed)
{
    w->dep = dep;
    w->seed = seed;
    w->index = 0;
    w->pos = 0;
}

/* The next word of a configured response, with the whitespace before it and, for the last word,
 * the whitespace after it too, so that nothing of the text is lost. */
static gantry_str_t next_response_token(fake_words_t *w)
{
    gantry_str_t text = w->dep->response;
    size_t start = w->pos, i = w->pos;
    while (i < text.len && is_space(text.ptr[i]))
        i++;
    if (i == text.len)
        return (gantry_str_t){text.ptr + start, 0};
    while (i < text.len && !is_space(text.ptr[i]))
        i++;
    size_t after = i;
    while (after < text.len && is_space(text.ptr[after]))
        after++;
    if (after == text.len)
        i = after;
    w->pos = i;
    return (gantry_str_t){text.ptr + start, i - start};
}

gantry_str_t fake_words_next(fake_words_t *w)
{
    gantry_str_t token;
    if (w->dep->response.ptr != NULL) {
        token = next_response_token(w);
    } else {
        token = word_list[mix(w->seed + 0x9e3779b97f4a7c15ull * w->index) % N_WORDS];
        if (w->index == 0) {
            token.ptr++;
            token.len--;
        }
    }
    w->index++;
    return token;
}

uint32_t fake_count_words(gantry_str_t text)
{
    uint32_t n = 0;
    bool in_word = false;
    for (size_t i = 0; i < text.len; i++) {
        bool space = is_space(text.ptr[i]);
        if (!space && !in_word)
            n++;
        in_word = !space;
    }
    return n;
}

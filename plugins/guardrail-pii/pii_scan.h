/*
 * pii scanner: finds personal data and secrets in text, masks them, and does the same for text
 * that arrives in pieces (a streamed completion).  Pure C with no host dependency, so that the
 * unit tests and the fuzz target drive exactly the code the plugin runs.
 *
 * Every detector is a hand-written linear pass (README.md lists the rules).  Offsets are byte
 * offsets into UTF-8 text; a match always starts and ends on a character boundary.
 */
#ifndef GANTRY_PII_SCAN_H
#define GANTRY_PII_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The entities, in the order they are reported and documented.  Never renumbered: the fuzz
 * corpus selects entities by bit. */
typedef enum pii_entity {
    PII_EMAIL = 0,
    PII_PHONE,
    PII_CREDIT_CARD,
    PII_IBAN,
    PII_AWS_ACCESS_KEY,
    PII_AWS_SECRET_KEY,
    PII_IPV4,
    PII_IPV6,
    PII_PRIVATE_KEY,
    PII_GITHUB_TOKEN,
    PII_SLACK_TOKEN,
    PII_OPENAI_KEY,
    PII_GOOGLE_API_KEY,
    PII_JWT,
    PII_STRIPE_KEY,
    PII_NENTITIES
} pii_entity_t;

#define PII_ALL ((1u << PII_NENTITIES) - 1u)

/* "email", "credit_card", ...: the names used in the configuration and in error messages. */
const char *pii_entity_name(pii_entity_t e);
/* "EMAIL", "CREDIT_CARD", ...: what {ENTITY} becomes in mask_format. */
const char *pii_entity_label(pii_entity_t e);
/* The entity of a configuration name (case-insensitive; LiteLLM/Presidio names such as
 * EMAIL_ADDRESS are accepted too).  Returns a bit mask of entities (IP_ADDRESS names both IP
 * versions), 0 when unknown. */
uint32_t pii_entity_lookup(const char *name, size_t len);

/* The allocator the scanner uses for its scratch and stream buffers: realloc(NULL, n) allocates,
 * free(NULL) is a no-op.  The plugin passes the host's instance allocator, tests pass libc's. */
typedef struct pii_mem {
    void *(*realloc_fn)(void *ptr, size_t size);
    void (*free_fn)(void *ptr);
} pii_mem_t;

/* What to look for and what to do with it.  Read-only while scanning. */
typedef struct pii_rules {
    uint32_t enabled;                /* entities looked for (bit 1 << pii_entity_t) */
    uint32_t block;                  /* of those, the ones that block; the others are masked */
    const char *repl[PII_NENTITIES]; /* replacement text of each masked entity */
    size_t repl_len[PII_NENTITIES];
} pii_rules_t;

/* A growing byte buffer; the text to hand on after masking. */
typedef struct pii_buf {
    char *ptr;
    size_t len;
    size_t cap;
} pii_buf_t;

void pii_buf_free(const pii_mem_t *mem, pii_buf_t *b);

typedef enum pii_verdict {
    PII_CLEAN = 0,   /* nothing found; `out` is not used */
    PII_MASKED = 1,  /* `out` holds the masked text */
    PII_BLOCKED = 2, /* *blocked names the first blocking entity found */
    PII_NOMEM = 3,   /* an allocation failed: the caller fails closed */
} pii_verdict_t;

/*
 * Check a whole text.  Blocking entities are looked for first; when none is present every masked
 * entity is replaced.  `out` is reset and, on PII_MASKED, filled (NUL-terminated); the caller frees
 * it with pii_buf_free() whatever the verdict.
 */
pii_verdict_t pii_check_text(const pii_rules_t *rules, const pii_mem_t *mem, const char *s,
                             size_t len, pii_buf_t *out, pii_entity_t *blocked);

/*
 * Streams.  Text that may be the start of an entity is held back until the next piece shows
 * whether it is one, so that an entity split across pieces is still masked whole:
 *   - the last PII_HOLD bytes are always held (longer than any entity that may contain spaces:
 *     a spaced card number, IBAN, phone number or PEM header);
 *   - so is a run of characters that entities without spaces are made of (letters, digits,
 *     . _ % + - @ :) reaching into those bytes, e.g. a long token or e-mail address;
 *   - and so is a match that more text could still change (an e-mail whose domain may go on).
 * At most PII_MAX_CARRY bytes are held; past that the oldest are released (masked as far as they
 * can be judged).  The PII_CONTEXT bytes released last are kept, unreleased, as context for the
 * detectors' look-behind (a digit just before a number, an access key id before its secret).
 */
#define PII_HOLD 64
#define PII_CONTEXT 192
#define PII_MAX_CARRY 16384

typedef struct pii_carry {
    char *buf;  /* context (`ctx` bytes) followed by the held text */
    size_t ctx; /* bytes of already released text at the start of buf */
    size_t len;
    size_t cap;
    bool forced; /* some text had to be released before it could be judged (PII_MAX_CARRY) */
} pii_carry_t;

/*
 * Add the piece s[0, n) to the carried text; put the text that can be released now, masked,
 * into `out` (reset first; may be empty).  `final`: the text ends here, release everything.
 * PII_CLEAN and PII_MASKED both release `out` (MASKED when a replacement was made); PII_BLOCKED
 * releases nothing.  The carry is freed with pii_carry_free().
 */
pii_verdict_t pii_carry_feed(const pii_rules_t *rules, const pii_mem_t *mem, pii_carry_t *c,
                             const char *s, size_t n, bool final, pii_buf_t *out,
                             pii_entity_t *blocked);
void pii_carry_free(const pii_mem_t *mem, pii_carry_t *c);

#endif

/*
 * keywords matcher internals: the result of one scan, shared by kw_match.c (the automaton and
 * the scan) and kw_carry.c (whole texts and streams).
 */
#ifndef GANTRY_KW_SCAN_H
#define GANTRY_KW_SCAN_H

#include "kw_match.h"

struct kw_node {
    uint32_t child;   /* first child (0: none) */
    uint32_t sibling; /* next child of the same parent */
    uint32_t fail;    /* longest proper suffix that is a node */
    uint32_t out;     /* nearest suffix node (via fail) where a keyword ends, 0: none */
    int32_t word;     /* first keyword ending here, -1: none (others via kw_word.next_same) */
    uint8_t byte;
};

/* A masked range: overlapping mask matches merged; named after its first match (the earliest,
 * then the longest, then the first configured), so that pieces of a stream merge exactly as the
 * whole text does. */
typedef struct kw_range {
    size_t start;
    size_t end;
    size_t first_start;
    size_t first_len;
    uint32_t first_word;
} kw_range_t;

typedef struct kw_scan {
    const kw_mem_t *mem;
    kw_range_t *r; /* sorted, disjoint */
    size_t n;
    size_t cap;
    bool nomem;
    /* The first blocking match whose boundaries are known, and the first still open. */
    bool block;
    size_t block_start;
    uint32_t block_word;
    bool open_block;
    size_t open_block_start;
    uint32_t open_block_word;
    size_t min_open; /* start of the earliest match more text could undo; SIZE_MAX: none */
} kw_scan_t;

/* Matches that start in s[from, len); bytes before `from` are context for word boundaries. */
void kw_scan(const kw_set_t *set, const char *s, size_t len, size_t from, kw_scan_t *sc);

#endif

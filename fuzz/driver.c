/*
 * A stand-in for libFuzzer in ordinary builds: runs a target over its seed corpus, then over random
 * mutations of the seeds for FUZZ_SECONDS (default 3), so the fuzz-smoke test suite exercises every
 * target under the sanitizers without needing clang.  Real fuzzing uses -Dfuzz=true with clang.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEDS 256
#define DRIVER_MAX_INPUT 65536

static uint8_t *seeds[MAX_SEEDS];
static size_t seed_len[MAX_SEEDS];
static size_t nseeds;

static void load_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && nseeds < MAX_SEEDS) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        uint8_t *buf = malloc(DRIVER_MAX_INPUT);
        size_t n = fread(buf, 1, DRIVER_MAX_INPUT, f);
        fclose(f);
        seeds[nseeds] = buf;
        seed_len[nseeds++] = n;
    }
    closedir(d);
}

static uint64_t rng = 0x853c49e6748fea9bULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        load_dir(argv[i]);
    long runs = 0;
    for (size_t i = 0; i < nseeds; i++, runs++)
        LLVMFuzzerTestOneInput(seeds[i], seed_len[i]);
    const char *secs = getenv("FUZZ_SECONDS");
    double limit = secs ? strtod(secs, NULL) : 3.0;
    static uint8_t buf[DRIVER_MAX_INPUT];
    time_t start = time(NULL);
    while (difftime(time(NULL), start) < limit) {
        size_t len = 0;
        if (nseeds > 0) {
            size_t s = next() % nseeds;
            len = seed_len[s];
            memcpy(buf, seeds[s], len);
        }
        int edits = 1 + (int)(next() % 8);
        for (int e = 0; e < edits; e++) {
            uint64_t r = next();
            switch (r % 4) {
            case 0: /* flip a byte */
                if (len)
                    buf[next() % len] ^= (uint8_t)(1u << (r >> 8) % 8);
                break;
            case 1: /* insert a byte that matters to the parsers */
                if (len < DRIVER_MAX_INPUT - 1) {
                    static const char interesting[] = "{}[]\":,\n\r \\0123456789e-+.tfn";
                    size_t at = len ? next() % (len + 1) : 0;
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = (uint8_t)interesting[next() % (sizeof interesting - 1)];
                    len++;
                }
                break;
            case 2: /* truncate */
                if (len)
                    len = next() % len;
                break;
            default: /* duplicate a slice */
                if (len && len < DRIVER_MAX_INPUT / 2) {
                    size_t a = next() % len, n = next() % (len - a) + 1;
                    memcpy(buf + len, buf + a, n);
                    len += n;
                }
                break;
            }
        }
        LLVMFuzzerTestOneInput(buf, len);
        runs++;
    }
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i]);
    printf("%ld runs over %zu seeds: 1 passed, 0 failed\n", runs, nseeds);
    return 0;
}

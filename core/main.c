/*
 * gantry: command line, start-up and exit.  Everything is loaded and checked before the first
 * socket is opened, so the server never starts half-configured.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "default_config.h"
#include "gen.h"
#include "log.h"
#include "srv.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: gantry [--config FILE] [--host HOST] [--port PORT] [--workers N]\n"
            "       gantry --check [--config FILE]\n"
            "       gantry --version | --help\n"
            "\n"
            "Gantry %s - an OpenAI-compatible gateway in front of many model providers.\n"
            "\n"
            "  -c, --config FILE   LiteLLM-style YAML config (default: the embedded demo config,\n"
            "                      which serves models from the built-in 'fake' provider)\n"
            "  -H, --host HOST     listen address (overrides server.host)\n"
            "  -p, --port PORT     listen port (overrides server.port; default 4000)\n"
            "  -w, --workers N     worker threads (overrides server.workers; default: CPU count)\n"
            "      --check         load and validate the config and its plugins, then exit 0 or 1\n"
            "      --debug         verbose logging\n"
            "  -v, --version       print the version\n"
            "  -h, --help          this text\n"
            "\n"
            "Plugins are searched in $GANTRY_PLUGIN_PATH, the config's plugins.path, then %s.\n"
            "SIGTERM/SIGINT stop accepting connections and finish requests in flight.\n",
            GANTRY_VERSION, plugin_default_dir() ? plugin_default_dir() : "(unknown)");
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"workers", required_argument, NULL, 'w'},
        {"check", no_argument, NULL, 'C'},
        {"debug", no_argument, NULL, 'd'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *host = NULL;
    long port = -1, workers = -1;
    bool check = false;
    int c;
    while ((c = getopt_long(argc, argv, "c:H:p:w:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'H':
            host = optarg;
            break;
        case 'p':
            if (parse_int(optarg, 0, 65535, &port) != 0) {
                fprintf(stderr, "gantry: --port needs a number from 0 to 65535, not '%s'\n",
                        optarg);
                return 1;
            }
            break;
        case 'w':
            if (parse_int(optarg, 1, 256, &workers) != 0) {
                fprintf(stderr, "gantry: --workers needs a number from 1 to 256, not '%s'\n",
                        optarg);
                return 1;
            }
            break;
        case 'C':
            check = true;
            break;
        case 'd':
            log_level = LOG_DEBUG;
            break;
        case 'v':
            printf("gantry %s (plugin ABI %d.%d)\n", GANTRY_VERSION, GANTRY_ABI_MAJOR,
                   GANTRY_ABI_MINOR);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gantry: unexpected argument '%s' (try --help)\n", argv[optind]);
        return 1;
    }

    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    cfg_t *cfg = config ? cfg_load(config)
                        : cfg_load_mem("<embedded default config>", default_config_yaml,
                                       sizeof default_config_yaml - 1);
    if (cfg != NULL) {
        if (host != NULL)
            cfg->server.host = host;
        if (port >= 0)
            cfg->server.port = (int)port;
        if (workers > 0)
            cfg->server.workers = (int)workers;
    }
    unsigned nworkers = 1;
    if (cfg != NULL) {
        long n = cfg->server.workers > 0 ? cfg->server.workers : sysconf(_SC_NPROCESSORS_ONLN);
        nworkers = n > 0 ? (unsigned)n : 1;
    }
    gen_t *gen = NULL;
    if (cfg != NULL && cfg_error_count() == 0)
        gen = gen_build(cfg, nworkers);
    if (gen == NULL || cfg_error_count() > 0) {
        unsigned n = cfg_error_count();
        fprintf(stderr, "gantry: %s has %u error%s; not starting\n",
                config ? config : "the embedded config", n, n == 1 ? "" : "s");
        if (gen != NULL)
            gen_unref(gen);
        else
            cfg_free(cfg);
        curl_global_cleanup();
        return 1;
    }
    if (check) {
        printf("gantry: %s is valid: %zu model group%s, %zu deployment%s, %zu plugin instance%s\n",
               config ? config : "the embedded config", gen->ngroups, gen->ngroups == 1 ? "" : "s",
               gen->ndeps, gen->ndeps == 1 ? "" : "s", gen->ninsts, gen->ninsts == 1 ? "" : "s");
        gen_unref(gen);
        curl_global_cleanup();
        return 0;
    }
    int rc = srv_run(cfg, gen, nworkers);
    gen_unref(atomic_load(&srv.gen));
    curl_global_cleanup();
    return rc;
}

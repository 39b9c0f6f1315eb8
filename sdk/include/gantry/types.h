/*
 * Gantry plugin SDK: basic value types shared by every SDK header.
 *
 * Only <stddef.h>, <stdint.h>, <stdbool.h> and <stdarg.h> may be included by SDK headers, so that the
 * core can change the libraries underneath plugins (h2o, libuv, curl, cJSON, libyaml) without
 * breaking a compiled plugin.  See plugin.h for the ABI policy.
 */
#ifndef GANTRY_TYPES_H
#define GANTRY_TYPES_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Symbols a plugin exports must be visible even when it is built with -fvisibility=hidden. */
#if defined(__GNUC__)
#define GANTRY_EXPORT __attribute__((visibility("default")))
#define GANTRY_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define GANTRY_EXPORT
#define GANTRY_PRINTF(fmt, args)
#endif

/* Layout freezes, usable from C11 and C++11. */
#ifdef __cplusplus
#define GANTRY_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define GANTRY_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/*
 * A borrowed byte string: not NUL-terminated unless a function says so.  Who owns the bytes and how
 * long they live is stated by the function that hands one out.
 */
typedef struct gantry_str {
    const char *ptr;
    size_t len;
} gantry_str_t;

#define GANTRY_STR_NULL ((gantry_str_t){NULL, 0})
#define GANTRY_STR_LIT(s) ((gantry_str_t){(s), sizeof(s) - 1})

/*
 * Status codes of fallible host functions.  Negative, X-macro generated so the numbers and the
 * messages cannot drift apart.  A code is never renumbered or reused; new ones are appended.
 * host->strerror(code) returns the message.
 */
#define GANTRY_ERRORS(X)                                                                       \
    X(GANTRY_OK, 0, "success")                                                                 \
    X(GANTRY_ENOMEM, -1, "out of memory (or the request's memory budget is exhausted)")        \
    X(GANTRY_EINVAL, -2, "invalid argument")                                                   \
    X(GANTRY_ENOENT, -3, "no such item")                                                       \
    X(GANTRY_ETYPE, -4, "value has another type")                                              \
    X(GANTRY_ESTATE, -5, "not allowed in the current request state")                           \
    X(GANTRY_ELIMIT, -6, "a configured limit was exceeded")                                    \
    X(GANTRY_EIO, -7, "input/output error")                                                    \
    X(GANTRY_ECONFIG, -8, "invalid configuration")                                             \
    X(GANTRY_EPARSE, -9, "malformed input")                                                    \
    X(GANTRY_EUNSUPPORTED, -10, "not supported")

typedef enum gantry_status {
#define GANTRY_X_ENUM(name, value, msg) name = value,
    GANTRY_ERRORS(GANTRY_X_ENUM)
#undef GANTRY_X_ENUM
} gantry_status_t;

/*
 * What a phase callback tells the core to do next.  Callbacks never return error codes: an error is
 * described with host->req_fail() and then GANTRY_FAIL is returned.
 *
 *   CONTINUE  go on with the next plugin of the phase, then the next phase.
 *   PAUSE     the plugin started asynchronous work; it will call host->resume() exactly once.
 *   RESPOND   the request is answered locally (a cache hit, a canned response): skip to the response.
 *   FAIL      stop and answer with the error set through host->req_fail().
 */
typedef enum gantry_action {
    GANTRY_CONTINUE = 0,
    GANTRY_PAUSE = 1,
    GANTRY_RESPOND = 2,
    GANTRY_FAIL = 3,
} gantry_action_t;

/* Log levels for host->log(). */
typedef enum gantry_log_level {
    GANTRY_LOG_ERROR = 0,
    GANTRY_LOG_WARN = 1,
    GANTRY_LOG_INFO = 2,
    GANTRY_LOG_DEBUG = 3,
} gantry_log_level_t;

/* Opaque handles.  Their layout is private to the core; reach them only through gantry_host_t. */
typedef struct gantry_req gantry_req_t;             /* one client request, its whole life */
typedef struct gantry_conf gantry_conf_t;           /* a node of the loaded YAML configuration */
typedef struct gantry_json gantry_json_t;           /* a node of a JSON document */
typedef struct gantry_upstream gantry_upstream_t;   /* the upstream HTTP request being built */
typedef struct gantry_instance gantry_instance_t;   /* a configured instance of a plugin */
typedef struct gantry_host gantry_host_t;           /* the host function table (host.h) */

#ifdef __cplusplus
}
#endif
#endif

/*
 * test_host: a small host table over cJSON for the unit tests of the built-in guardrails (pii,
 * keywords, max_length).  It implements what a synchronous guardrail uses - configuration,
 * instance and request memory, request data slots, the request and response bodies, JSON access,
 * req_fail and req_note_guardrail - and records errors and notes for the tests to read.
 *
 * Configuration nodes are cJSON nodes: a test writes an instance's config block as JSON.
 */
#ifndef GANTRY_TEST_HOST_H
#define GANTRY_TEST_HOST_H

#include <gantry/gantry.h>

#include <cJSON.h>

extern const gantry_host_t th_host;

/* An instance of a plugin under test. */
typedef struct th_inst {
    const gantry_plugin_desc_t *desc;
    gantry_instance_t *self;
    cJSON *conf;
    void *state;
} th_inst_t;

/* create() the instance from a JSON config block; GANTRY_OK or its error (th_conf_error() says
 * what was reported). */
int th_inst_open(th_inst_t *in, const gantry_plugin_desc_t *desc, const char *name,
                 const char *conf_json);
void th_inst_close(th_inst_t *in);
const char *th_conf_error(void); /* the last conf_error() message */

/* A request with the given canonical body (JSON text). */
gantry_req_t *th_req_new(const char *body_json, bool stream);
void th_req_free(gantry_req_t *req); /* runs the cleanup hooks, frees everything */
void th_req_set_resp(gantry_req_t *req, const char *resp_json);
cJSON *th_req_body(gantry_req_t *req);
cJSON *th_req_resp(gantry_req_t *req);
/* The error set with req_fail() (status 0 when none). */
int th_req_status(gantry_req_t *req);
gantry_error_class_t th_req_class(gantry_req_t *req);
const char *th_req_type(gantry_req_t *req);
const char *th_req_code(gantry_req_t *req);
const char *th_req_message(gantry_req_t *req);
/* Guardrail names noted with req_note_guardrail(), comma-separated, in order. */
const char *th_req_noted(gantry_req_t *req);

/* Allocation failure injection: every allocation after the next `n` fails (-1: none fail).
 * Returns how many allocations were made since the last call. */
long th_fail_after(long n);

#endif

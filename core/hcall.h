/* hcall: side HTTP calls of plugins (host->http_call) on the request's worker loop. */
#ifndef GANTRY_HCALL_H
#define GANTRY_HCALL_H

#include <gantry/host.h>

#include "req.h"

typedef struct hcall hcall_t;

/* Start a call; GANTRY_OK or a negative status (then cb never runs). */
int hcall_start(req_t *r, const gantry_http_call_t *call, gantry_http_cb cb, void *arg);
/* Cancel every call of the request; their callbacks never run. */
void hcall_cancel_all(req_t *r);

#endif

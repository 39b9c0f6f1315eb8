/* wio: worker-level fd watches and timers for plugins (host->watch_*, host->wtimer_*). */
#ifndef GANTRY_WIO_H
#define GANTRY_WIO_H

#include <gantry/host.h>

gantry_watch_t *wio_watch_new(unsigned worker_id, int fd, gantry_watch_cb cb, void *arg);
int wio_watch_set(gantry_watch_t *w, unsigned events);
void wio_watch_free(gantry_watch_t *w);
gantry_wtimer_t *wio_timer_new(unsigned worker_id, gantry_wtimer_cb cb, void *arg);
int wio_timer_start(gantry_wtimer_t *t, uint64_t delay_ms, uint64_t repeat_ms);
void wio_timer_stop(gantry_wtimer_t *t);
void wio_timer_free(gantry_wtimer_t *t);

#endif

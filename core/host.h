/* host: the function table handed to plugins (gantry_host_t), implemented over the core's modules.
 */
#ifndef GANTRY_HOST_IMPL_H
#define GANTRY_HOST_IMPL_H

#include <gantry/host.h>

extern const gantry_host_t host_table;

/* JSON changes made through the host on the calling thread (see host.c). */
uint64_t host_json_mutations(void);

#endif

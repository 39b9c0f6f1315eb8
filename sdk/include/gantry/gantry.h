/* Gantry plugin SDK v1: include this one header. */
#ifndef GANTRY_GANTRY_H
#define GANTRY_GANTRY_H
#include "types.h"
#include "plugin.h"
#include "host.h"
#endif

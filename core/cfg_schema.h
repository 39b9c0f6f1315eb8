/* cfg_schema: the accepted keys of each configuration section (LiteLLM names plus Gantry's own). */
#ifndef GANTRY_CFG_SCHEMA_H
#define GANTRY_CFG_SCHEMA_H

#include "cfg.h"

extern const gantry_conf_field_t cfg_top_fields[];
extern const gantry_conf_field_t cfg_server_fields[];
extern const gantry_conf_field_t cfg_general_fields[];
extern const gantry_conf_field_t cfg_history_fields[];
extern const gantry_conf_field_t cfg_guard_entry_fields[];
extern const gantry_conf_field_t cfg_guard_core_fields[];
extern const gantry_conf_field_t cfg_litellm_fields[];
extern const gantry_conf_field_t cfg_router_fields[];
extern const gantry_conf_field_t cfg_plugins_fields[];
extern const gantry_conf_field_t cfg_plugin_entry_fields[];
extern const gantry_conf_field_t cfg_model_fields[];
extern const gantry_conf_field_t cfg_params_fields[];
extern const gantry_conf_field_t cfg_model_info_fields[];

#endif

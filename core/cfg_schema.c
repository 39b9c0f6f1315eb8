/*
 * Keys marked CFG_F_IGNORED are LiteLLM settings that Gantry does not act on (yet).  Accepting them
 * with a warning lets an existing LiteLLM config.yaml start unchanged while still catching typos,
 * which are errors.
 */
#include "cfg_schema.h"

#define S GANTRY_CONF_STRING
#define I GANTRY_CONF_INT
#define N GANTRY_CONF_NUMBER
#define B GANTRY_CONF_BOOL
#define M GANTRY_CONF_MAP
#define Q GANTRY_CONF_SEQ
#define A GANTRY_CONF_ANY
#define D CFG_T_DURATION
#define REQ GANTRY_CONF_REQUIRED
#define SEC GANTRY_CONF_SECRET
#define IGN CFG_F_IGNORED

const gantry_conf_field_t cfg_top_fields[] = {
    {"model_list", Q, 0, "deployments; entries with the same model_name form a model group"},
    {"general_settings", M, 0, "master_key and proxy-wide settings"},
    {"litellm_settings", M, 0, "LiteLLM library settings"},
    {"router_settings", M, 0, "routing, retries and fallbacks"},
    {"server", M, 0, "Gantry listener and limits"},
    {"plugins", M, 0, "plugin search path and extra plugins"},
    {"environment_variables", M, IGN, NULL},
    {"guardrails", Q, 0, "guardrail instances (LiteLLM's shape: guardrail_name, litellm_params)"},
    {"policies", A, 0, "routing rule files (a path, a directory, or a list)"},
    {"chat_history", M, 0, "conversations kept per key (enable_history / session_id)"},
    {"callback_settings", M, IGN, NULL},
    {"include", Q, IGN, NULL},
    {"credential_list", Q, IGN, NULL},
    {"mcp_servers", M, IGN, NULL},
    {NULL, 0, 0, NULL},
};

const gantry_conf_field_t cfg_server_fields[] = {
    {"host", S, 0, "listen address (default 0.0.0.0)"},
    {"port", I, 0, "listen port (default 4000)"},
    {"workers", I, 0, "worker threads (default: CPU count)"},
    {"http2", B, 0, "HTTP/2 over TLS via ALPN (default true)"},
    {"h2c", B, 0, "cleartext HTTP/2 on plain listeners (default true)"},
    {"tls_cert", S, 0, "certificate chain file (PEM)"},
    {"tls_key", S, SEC, "private key file (PEM)"},
    {"max_request_bytes", I, 0, "largest request body (default 4 MiB)"},
    {"max_response_bytes", I, 0, "largest non-streamed upstream body (default 64 MiB)"},
    {"request_memory_bytes", I, 0, "per-request memory budget (default 64 MiB)"},
    {"connect_timeout", D, 0, "upstream connect timeout (default 10s)"},
    {"idle_timeout", D, 0, "longest silence inside an upstream response (default 300s)"},
    {"drain_timeout", D, 0, "graceful shutdown bound (default 30s)"},
    {"client_timeout", D, 0, "time to read a client request, and keep-alive idle (default 30s)"},
    {"database", S, 0, "SQLite file for chat history and other state (default :memory:)"},
    {NULL, 0, 0, NULL},
};

const gantry_conf_field_t cfg_history_fields[] = {
    {"enabled", B, 0, "accept enable_history / session_id (default true)"},
    {"max_messages", I, 0, "messages kept per session (default 100)"},
    {"max_bytes", I, 0, "stored bytes per session (default 1 MiB)"},
    {"ttl", D, 0, "delete sessions untouched this long (default 30 days)"},
    {"max_sessions_per_key", I, 0, "sessions kept per key (default 1000)"},
    {NULL, 0, 0, NULL},
};

const gantry_conf_field_t cfg_general_fields[] = {
    {"master_key", S, SEC, "admin key; when set every API call needs a valid key"},
    {"database_url", S, 0, "sqlite:///gantry.db (relative to the config) or sqlite:////abs.db"},
    {"database_connection_pool_limit", I, IGN, NULL},
    {"database_connection_timeout", A, IGN, NULL},
    {"allow_requests_on_db_unavailable", B, IGN, NULL},
    {"store_model_in_db", B, IGN, NULL},
    {"disable_spend_logs", B, IGN, NULL},
    {"disable_error_logs", B, IGN, NULL},
    {"proxy_batch_write_at", A, IGN, NULL},
    {"background_health_checks", B, 0, NULL},
    {"health_check_interval", A, 0, NULL},
    {"health_check_details", B, IGN, NULL},
    {"alerting", Q, 0, "[webhook]: budget alerts are POSTed to alert_to_webhook_url.budget_alerts"},
    {"rate_limit_subjects", I, 0, "keys, teams, ... rate-limited at once (default 16384)"},
    {"budget_alert_thresholds", Q, 0, "shares of max_budget that raise an alert (default [0.8, 1.0])"},
    {"alerting_threshold", A, IGN, NULL},
    {"alert_types", Q, IGN, NULL},
    {"alert_to_webhook_url", M, 0, "{budget_alerts: <url>}: where budget alerts go"},
    {"max_parallel_requests", I, IGN, NULL},
    {"global_max_parallel_requests", I, IGN, NULL},
    {"max_request_size_mb", N, IGN, NULL},
    {"max_response_size_mb", N, IGN, NULL},
    {"allowed_ips", Q, IGN, NULL},
    {"use_x_forwarded_for", B, IGN, NULL},
    {"enforce_user_param", B, IGN, NULL},
    {"allowed_routes", Q, IGN, NULL},
    {"litellm_key_header_name", S, IGN, NULL},
    {"forward_client_headers_to_llm_api", B, IGN, NULL},
    {"maximum_spend_logs_retention_period", S, 0, "spend log rows older than this (\"30d\") are deleted"},
    {"maximum_spend_logs_retention_interval", A, IGN, NULL},
    {"ui_access_mode", A, IGN, NULL},
    {"disable_master_key_return", B, IGN, NULL},
    {"pass_through_endpoints", Q, IGN, NULL},
    {"custom_auth", S, IGN, NULL},
    {"store_prompts_in_spend_logs", B, IGN, NULL},
    {NULL, 0, 0, NULL},
};

const gantry_conf_field_t cfg_litellm_fields[] = {
    {"request_timeout", D, 0, "default upstream timeout (default 600s)"},
    {"drop_params", B, 0, "drop parameters a provider does not support"},
    {"num_retries", I, 0, NULL},
    {"cache", B, 0, "response cache: true creates the cache cache_params describes"},
    {"cache_params", M, 0, "type (local, redis), host, port, password, ttl, namespace, mode, ..."},
    {"success_callback", Q, IGN, NULL},
    {"failure_callback", Q, IGN, NULL},
    {"callbacks", A, IGN, NULL},
    {"service_callback", Q, IGN, NULL},
    {"service_callbacks", Q, IGN, NULL},
    {"turn_off_message_logging", B, IGN, NULL},
    {"redact_user_api_key_info", B, IGN, NULL},
    {"json_logs", B, IGN, NULL},
    {"set_verbose", B, IGN, NULL},
    {"debug", B, IGN, NULL},
    {"detailed_debug", B, IGN, NULL},
    {"force_ipv4", B, IGN, NULL},
    {"modify_params", B, IGN, NULL},
    {"fallbacks", Q, 0, NULL},
    {"context_window_fallbacks", Q, 0, NULL},
    {"content_policy_fallbacks", Q, 0, NULL},
    {"default_fallbacks", Q, 0, NULL},
    {"max_budget", N, IGN, NULL},
    {"budget_duration", S, IGN, NULL},
    {"max_internal_user_budget", N, IGN, NULL},
    {"internal_user_budget_duration", S, IGN, NULL},
    {"default_team_settings", Q, IGN, NULL},
    {"key_generation_settings", M, IGN, NULL},
    {"s3_callback_params", M, IGN, NULL},
    {"disable_end_user_cost_tracking", B, IGN, NULL},
    {"enable_json_schema_validation", B, IGN, NULL},
    {NULL, 0, 0, NULL},
};

const gantry_conf_field_t cfg_router_fields[] = {
    {"routing_strategy", S, 0, NULL},
    {"routing_strategy_args", M, 0, NULL},
    {"model_group_alias", M, IGN, NULL},
    {"num_retries", I, 0, NULL},
    {"retry_after", N, 0, NULL},
    {"retry_policy", M, 0, NULL},
    {"timeout", D, 0, NULL},
    {"stream_timeout", D, 0, NULL},
    {"allowed_fails", I, 0, NULL},
    {"allowed_fails_policy", M, 0, NULL},
    {"cooldown_time", N, 0, NULL},
    {"disable_cooldowns", B, 0, NULL},
    {"fallbacks", Q, 0, NULL},
    {"default_fallbacks", Q, 0, NULL},
    {"context_window_fallbacks", Q, 0, NULL},
    {"content_policy_fallbacks", Q, 0, NULL},
    {"max_fallbacks", I, 0, NULL},
    {"enable_pre_call_checks", B, 0, NULL},
    {"enable_pre_call_check", B, 0, NULL},
    {"optional_pre_call_checks", Q, IGN, NULL},
    {"retry_backoff_base", D, 0, "first back-off step before a retry (default 0.5s)"},
    {"retry_backoff_max", D, 0, "longest back-off before a retry (default 8s)"},
    {"failure_threshold_percent", N, 0,
     "share of failed requests in a minute that cools a deployment down"},
    {"enable_tag_filtering", B, IGN, NULL},
    {"redis_host", S, IGN, NULL},
    {"redis_port", A, IGN, NULL},
    {"redis_password", S, SEC | IGN, NULL},
    {"redis_url", S, SEC | IGN, NULL},
    {"cache_responses", B, IGN, NULL},
    {"default_max_parallel_requests", I, IGN, NULL},
    {"client_ttl", I, IGN, NULL},
    {NULL, 0, 0, NULL},
};

const gantry_conf_field_t cfg_guard_entry_fields[] = {
    {"guardrail_name", S, REQ, "the guardrail's name (requests and keys select it by this name)"},
    {"litellm_params", M, REQ, "guardrail, mode, default_on and the plugin's own settings"},
    {"guardrail_info", M, IGN, NULL},
    {"guardrail_id", S, IGN, NULL},
    {NULL, 0, 0, NULL},
};

/* The keys of a guardrail's litellm_params the core reads; the rest configures the plugin. */
const gantry_conf_field_t cfg_guard_core_fields[] = {
    {"guardrail", S, REQ, "which guardrail: bedrock, regex, pii, keywords, max_length, or a plugin"},
    {"mode", A, 0, "pre_call, during_call, post_call, logging_only, or a list of them"},
    {"default_on", B, 0, "run on every request (default false: only when selected)"},
    {"fail_open", B, 0, "let the request through when the guardrail itself fails (default false)"},
    {"allow_disable", B, 0, "a request may switch this default_on guardrail off (default false)"},
    {NULL, 0, 0, NULL},
};

const gantry_conf_field_t cfg_plugins_fields[] = {
    {"path", Q, 0, "directories searched for plugins before the default one"},
    {"load", Q, 0, "plugin instances to create, in order"},
    {NULL, 0, 0, NULL},
};

const gantry_conf_field_t cfg_plugin_entry_fields[] = {
    {"plugin", S, REQ, "plugin name (its .so base name)"},
    {"name", S, 0, "instance name (default: the plugin name)"},
    {"config", M, 0, "the instance's configuration"},
    {NULL, 0, 0, NULL},
};

const gantry_conf_field_t cfg_model_fields[] = {
    {"model_name", S, REQ, "public model name: the model group"},
    {"litellm_params", M, REQ, "provider model and parameters"},
    {"model_info", M, 0, "deployment metadata"},
    {NULL, 0, 0, NULL},
};

/* Keys of litellm_params the core itself understands; providers add their own. */
const gantry_conf_field_t cfg_params_fields[] = {
    {"model", S, REQ, "<provider>/<model-id>"},
    {"timeout", D, 0, "whole non-streaming call"},
    {"stream_timeout", D, 0, "time to the first streamed byte"},
    {"max_retries", I, 0, "retries of this deployment"},
    {"rpm", I, 0, "requests per minute this deployment allows"},
    {"tpm", I, 0, "tokens per minute this deployment allows"},
    {"weight", N, 0, "share of traffic in simple-shuffle"},
    {"order", I, 0, "priority tier (lower first)"},
    {"max_parallel_requests", I, 0, "concurrent requests this deployment allows"},
    {"drop_params", B, 0, "drop unsupported parameters instead of failing"},
    {"input_cost_per_token", N, 0, "price override"},
    {"output_cost_per_token", N, 0, "price override"},
    {"tags", Q, 0, "tags for tag routing"},
    {"custom_llm_provider", S, IGN, NULL},
    {"region_name", S, IGN, NULL},
    {"mock_response", A, IGN, NULL},
    {"max_budget", N, IGN, NULL},
    {"budget_duration", S, IGN, NULL},
    {"litellm_credential_name", S, IGN, NULL},
    {"merge_reasoning_content_in_choices", B, IGN, NULL},
    {"use_in_pass_through", B, IGN, NULL},
    {NULL, 0, 0, NULL},
};

const gantry_conf_field_t cfg_model_info_fields[] = {
    {"id", S, 0, "deployment id"},
    {"mode", S, 0, "chat, embedding, completion, ..."},
    {"base_model", S, 0, NULL},
    {"description", S, 0, NULL},
    {"max_tokens", I, 0, NULL},
    {"max_input_tokens", I, 0, NULL},
    {"max_output_tokens", I, 0, NULL},
    {"input_cost_per_token", N, 0, NULL},
    {"output_cost_per_token", N, 0, NULL},
    {"cache_read_input_token_cost", N, 0, NULL},
    {"cache_creation_input_token_cost", N, 0, NULL},
    {"access_groups", Q, 0, NULL},
    {"tags", Q, 0, NULL},
    {"region", S, 0, NULL},
    {"litellm_provider", S, 0, NULL},
    {"team_id", S, 0, NULL},
    {"db_model", B, 0, NULL},
    {"supports_*", B, 0, "capability flags (a trailing * matches any suffix)"},
    {NULL, 0, 0, NULL},
};

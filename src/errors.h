/*-------------------------------------------------------------------------
 *
 * errors.h
 *	  The SQLSTATE class FN: every error code foundation raises, defined once.
 *
 * FND_ERROR_LIST is an X-macro: each row gives the code's last three
 * characters, its name, the subsystem that raises it and what it means.  It
 * produces the ERRCODE_FND_* constants used with ereport() and the rows of
 * the fnd_error_codes view, so C and SQL can never disagree.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_ERRORS_H
#define FND_ERRORS_H

#include "utils/elog.h"

#define FND_ERROR_LIST(X) \
	X(NOT_PRELOADED, '0', '0', '1', "not_preloaded", "core", \
	  "A shared-memory function was called but foundation is not in shared_preload_libraries.") \
	X(FEATURE_DISABLED, '0', '0', '2', "feature_disabled", "core", \
	  "The feature or service is disabled.") \
	X(INVALID_ARGUMENT, '0', '0', '3', "invalid_argument", "core", \
	  "An argument is NULL, empty, too long, of the wrong JSON shape, out of range or an unknown word.") \
	X(ALREADY_REGISTERED, '1', '0', '1', "already_registered", "registry", \
	  "The name is held by a live registry entry.") \
	X(NOT_REGISTERED, '1', '0', '2', "not_registered", "registry", \
	  "No live registry entry has this name.") \
	X(REGISTRY_FULL, '1', '0', '3', "registry_full", "registry", \
	  "The registry has reached foundation.max_registry_entries or its value memory is exhausted.") \
	X(NOT_OWNER, '1', '0', '4', "not_owner", "registry", \
	  "The entry belongs to another role.") \
	X(CIRCUIT_OPEN, '2', '0', '1', "circuit_open", "breaker", \
	  "The circuit breaker is open and refuses calls until it half-opens.") \
	X(BREAKER_NOT_FOUND, '2', '0', '2', "breaker_not_found", "breaker", \
	  "No circuit breaker has this name.") \
	X(BREAKERS_FULL, '2', '0', '3', "breakers_full", "breaker", \
	  "The breaker table has reached foundation.max_circuit_breakers.") \
	X(INVALID_CONFIG_PATH, '3', '0', '1', "invalid_config_path", "config", \
	  "A config path is not dotted lower-case words, or conflicts with an existing leaf or subtree.") \
	X(CONFIG_NOT_FOUND, '3', '0', '2', "config_not_found", "config", \
	  "No config value exists at this path.") \
	X(INVALID_EVENT, '4', '0', '1', "invalid_event", "events", \
	  "An event has an empty or over-long type, or data that is not a JSON object.") \
	X(UNKNOWN_EVENT_TYPE, '4', '0', '2', "unknown_event_type", "events", \
	  "The event type has no registered schema.") \
	X(EVENT_SCHEMA_VIOLATION, '4', '0', '3', "event_schema_violation", "events", \
	  "The event data does not match its type's schema.") \
	X(INVALID_METRIC, '5', '0', '1', "invalid_metric", "telemetry", \
	  "A metric name or measurement kind is invalid.") \
	X(LOCK_TIMEOUT, '6', '0', '1', "lock_timeout", "coordination", \
	  "The lock was not acquired in time.") \
	X(NOT_LOCK_HOLDER, '6', '0', '2', "not_lock_holder", "coordination", \
	  "The caller does not hold the lock, or the fencing token does not match.") \
	X(BARRIER_TIMEOUT, '6', '0', '3', "barrier_timeout", "coordination", \
	  "The barrier did not trip before the timeout.") \
	X(CONSENSUS_TIMEOUT, '6', '0', '4', "consensus_timeout", "coordination", \
	  "The consensus round did not decide before the timeout.") \
	X(NOT_A_PARTICIPANT, '6', '0', '5', "not_a_participant", "coordination", \
	  "The voter is not a participant of the consensus round.") \
	X(ALREADY_VOTED, '6', '0', '6', "already_voted", "coordination", \
	  "The participant has already voted in this round.") \
	X(COORDINATION_FULL, '6', '0', '7', "coordination_full", "coordination", \
	  "The coordination tables have reached their foundation.max_* size.") \
	X(AGENT_NOT_FOUND, '7', '0', '1', "agent_not_found", "agents", \
	  "No agent is registered with this id.") \
	X(AGENT_UNHEALTHY, '7', '0', '2', "agent_unhealthy", "agents", \
	  "The agent is registered but unhealthy.") \
	X(CAPABILITY_MISSING, '7', '0', '3', "capability_missing", "agents", \
	  "The agent lacks the required capability.") \
	X(RESOURCE_LIMIT_EXCEEDED, '8', '0', '1', "resource_limit_exceeded", "resources", \
	  "The allocation would exceed a resource limit.") \
	X(SYSTEM_RESOURCE_CRITICAL, '8', '0', '2', "system_resource_critical", "resources", \
	  "A system resource is above its critical threshold.") \
	X(RATE_LIMITED, '9', '0', '1', "rate_limited", "ratelimit", \
	  "The rate limit is exhausted; retry after the interval given in the detail.")

#define FND_ERRCODE_ENUM(sym, a, b, c, name, subsystem, meaning) \
	ERRCODE_FND_##sym = MAKE_SQLSTATE('F', 'N', a, b, c),

enum
{
	FND_ERROR_LIST(FND_ERRCODE_ENUM)
};

#undef FND_ERRCODE_ENUM

#endif							/* FND_ERRORS_H */

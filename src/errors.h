/*-------------------------------------------------------------------------
 *
 * errors.h
 *	  The SQLSTATE class FN: every error code foundation raises, defined once.
 *
 * FND_ERROR_LIST is an X-macro: each row gives the code's last three
 * characters, the version from which foundation raises it (NULL: reserved,
 * raised by no version yet), its name, the subsystem and what it means.  It
 * produces the ERRCODE_FND_* constants used with ereport() and the rows of
 * the fnd_error_codes view, so C and SQL can never disagree.
 *
 * One code per situation:
 *	- FN104 not_owner: the object exists but belongs to a role (or, for a
 *	  session-owned one, a session) the caller may not act for: registry
 *	  entries, leaderships, barriers, rounds.
 *	- FN602 not_lock_holder: release or renewal of a lock the caller does not
 *	  hold under that token (held by someone else, with another token, or
 *	  its lease ran out).  Releasing a lock nobody holds returns false.
 *	- 42501 only when PostgreSQL's own privileges refuse; never raised here.
 *	- A full table raises its subsystem's code (FN103, FN203, FN607, FN902),
 *	  also when the caller's role is at its per-role quota (the detail then
 *	  names the foundation.*_per_role setting).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_ERRORS_H
#define FND_ERRORS_H

#include "utils/elog.h"

#define FND_ERROR_LIST(X) \
	X(NOT_PRELOADED, '0', '0', '1', "1.0", "not_preloaded", "core", \
	  "A shared-memory function was called but foundation is not in shared_preload_libraries.") \
	X(FEATURE_DISABLED, '0', '0', '2', "1.1", "feature_disabled", "core", \
	  "The feature or service is disabled.") \
	X(INVALID_ARGUMENT, '0', '0', '3', "1.0", "invalid_argument", "core", \
	  "An argument is NULL, empty, too long, of the wrong JSON shape, out of range or an unknown word.") \
	X(ALREADY_REGISTERED, '1', '0', '1', "1.0", "already_registered", "registry", \
	  "The name is held by a live registry entry.") \
	X(NOT_REGISTERED, '1', '0', '2', "1.0", "not_registered", "registry", \
	  "No live registry entry has this name.") \
	X(REGISTRY_FULL, '1', '0', '3', "1.0", "registry_full", "registry", \
	  "The registry has reached foundation.max_registry_entries, its value memory is exhausted, or the role holds foundation.max_registry_entries_per_role entries.") \
	X(NOT_OWNER, '1', '0', '4', "1.0", "not_owner", "registry", \
	  "The object exists but belongs to a role (or session) the caller may not act for.") \
	X(CIRCUIT_OPEN, '2', '0', '1', "1.0", "circuit_open", "breaker", \
	  "The circuit breaker is open and refuses calls until it half-opens.") \
	X(BREAKER_NOT_FOUND, '2', '0', '2', "1.0", "breaker_not_found", "breaker", \
	  "No circuit breaker has this name.") \
	X(BREAKERS_FULL, '2', '0', '3', "1.0", "breakers_full", "breaker", \
	  "The breaker table has reached foundation.max_circuit_breakers.") \
	X(INVALID_CONFIG_PATH, '3', '0', '1', "1.0", "invalid_config_path", "config", \
	  "A config path is not dotted lower-case words, or conflicts with an existing leaf or subtree.") \
	X(CONFIG_NOT_FOUND, '3', '0', '2', NULL, "config_not_found", "config", \
	  "Reserved: reading a missing config path returns NULL instead.") \
	X(INVALID_EVENT, '4', '0', '1', "1.0", "invalid_event", "events", \
	  "An event has an empty or over-long type, or data that is not a JSON object.") \
	X(UNKNOWN_EVENT_TYPE, '4', '0', '2', "2.0", "unknown_event_type", "events", \
	  "The event type has no registered schema.") \
	X(EVENT_SCHEMA_VIOLATION, '4', '0', '3', "2.0", "event_schema_violation", "events", \
	  "The event data does not match its type's schema.") \
	X(SUBSCRIPTION_NOT_FOUND, '4', '0', '4', "1.2", "subscription_not_found", "events", \
	  "No durable subscription has this name.") \
	X(SUBSCRIPTION_EXISTS, '4', '0', '5', "1.2", "subscription_exists", "events", \
	  "A durable subscription with this name already exists.") \
	X(INVALID_METRIC, '5', '0', '1', "1.0", "invalid_metric", "telemetry", \
	  "A metric name or measurement kind is invalid.") \
	X(LOCK_TIMEOUT, '6', '0', '1', NULL, "lock_timeout", "coordination", \
	  "Reserved: a lock wait that times out returns NULL instead.") \
	X(NOT_LOCK_HOLDER, '6', '0', '2', "1.0", "not_lock_holder", "coordination", \
	  "The caller does not hold the lock it releases or renews: another session, token or role holds it, or (renewal) its lease ran out.") \
	X(BARRIER_TIMEOUT, '6', '0', '3', "1.0", "barrier_timeout", "coordination", \
	  "The barrier did not trip before the timeout.") \
	X(CONSENSUS_TIMEOUT, '6', '0', '4', NULL, "consensus_timeout", "coordination", \
	  "Reserved: a round that times out reads as 'timeout' instead.") \
	X(NOT_A_PARTICIPANT, '6', '0', '5', "1.0", "not_a_participant", "coordination", \
	  "The voter is not a participant of the consensus round.") \
	X(ALREADY_VOTED, '6', '0', '6', "1.0", "already_voted", "coordination", \
	  "The participant has already voted in this round.") \
	X(COORDINATION_FULL, '6', '0', '7', "1.0", "coordination_full", "coordination", \
	  "A coordination table (locks, elections, barriers, rounds, token slots) is full, or the role is at its foundation.max_*_per_role quota.") \
	X(AGENT_NOT_FOUND, '7', '0', '1', "1.1", "agent_not_found", "agents", \
	  "No agent is registered with this id.") \
	X(AGENT_UNHEALTHY, '7', '0', '2', "1.1", "agent_unhealthy", "agents", \
	  "The agent is registered but unhealthy.") \
	X(CAPABILITY_MISSING, '7', '0', '3', "1.1", "capability_missing", "agents", \
	  "The agent lacks the required capability.") \
	X(RESOURCE_LIMIT_EXCEEDED, '8', '0', '1', "1.3", "resource_limit_exceeded", "resources", \
	  "The allocation would exceed a resource limit.") \
	X(SYSTEM_RESOURCE_CRITICAL, '8', '0', '2', "1.3", "system_resource_critical", "resources", \
	  "A system resource is above its critical threshold.") \
	X(RATE_LIMITED, '9', '0', '1', "1.0", "rate_limited", "ratelimit", \
	  "The rate limit is exhausted; retry after the interval given in the detail.") \
	X(RATE_LIMITS_FULL, '9', '0', '2', "1.0", "rate_limits_full", "ratelimit", \
	  "The rate-limit bucket table has reached foundation.max_rate_buckets and no bucket has drained.")

#define FND_ERRCODE_ENUM(sym, a, b, c, since, name, subsystem, meaning) \
	ERRCODE_FND_##sym = MAKE_SQLSTATE('F', 'N', a, b, c),

enum
{
	FND_ERROR_LIST(FND_ERRCODE_ENUM)
};

#undef FND_ERRCODE_ENUM

#endif							/* FND_ERRORS_H */

/*-------------------------------------------------------------------------
 *
 * agents.h
 *	  Agents (1.1): registry entries with enhanced metadata, capabilities
 *	  and health, in shared memory (agents.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_AGENTS_H
#define FND_AGENTS_H

/*
 * True when a live agent with this id exists in database dbid; then
 * *owner_role (if not NULL) is set to the role that owns it (the role of
 * the registering session, or the lease's role).  Takes the registry's
 * lock shared; no catalog access; safe in any backend attached to the
 * extension's shared memory.
 */
extern bool fnd_agent_owner(Oid dbid, const char *agent_id, Oid *owner_role);

#endif							/* FND_AGENTS_H */

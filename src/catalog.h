/*-------------------------------------------------------------------------
 *
 * catalog.h
 *	  One of the extension's tables as C code sees it: found in the
 *	  extension's schema, its SPI plans kept for the session and dropped
 *	  when the table is replaced, statements run as the table's owner.
 *
 * A subsystem declares one FndCatalogTable per table, statically:
 *
 *		static FndCatalogTable fnd_config_table = {.relname = "fnd_config"};
 *
 * and before each use calls fnd_catalog_find() (one comparison when nothing
 * changed).  Statements are prepared with fnd_catalog_plan(): their text
 * names the table's schema as @extschema@, and must qualify everything
 * else (functions, operators as OPERATOR(pg_catalog.=), types), so that
 * nothing on the session's search_path is ever resolved into them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_CATALOG_H
#define FND_CATALOG_H

#include "executor/spi.h"
#include "datatype/timestamp.h"
#include "fmgr.h"

/* Kept plans per table, indexed by a slot number the subsystem chooses. */
#define FND_CATALOG_MAX_PLANS	4

typedef struct FndCatalogTable
{
	/* set by the subsystem */
	const char *relname;		/* e.g. "fnd_events" */
	void		(*changed) (void);	/* optional: the table's relcache entry
									 * was invalidated (altered, replaced) */

	/* maintained by catalog.c */
	bool		valid;			/* the fields below are current */
	Oid			fn_oid;			/* function whose schema found it */
	Oid			nsp;
	Oid			relid;
	Oid			owner;			/* the table's owner, as of the last find */
	SPIPlanPtr	plans[FND_CATALOG_MAX_PLANS];
	bool		registered;
	struct FndCatalogTable *next;	/* list walked by the relcache callback */
} FndCatalogTable;

/* The user a statement ran as before fnd_catalog_become_owner. */
typedef struct FndCatalogUser
{
	Oid			userid;
	int			sec_context;
} FndCatalogUser;

extern Oid	fnd_extension_namespace(void);
extern bool fnd_catalog_find(FndCatalogTable *t, Oid fn_oid, bool missing_ok);
extern SPIPlanPtr fnd_catalog_plan(FndCatalogTable *t, int slot,
								   const char *sql, int nargs, Oid *argtypes,
								   int cursor_options);
extern void fnd_catalog_become(Oid owner, FndCatalogUser *save);
extern void fnd_catalog_restore(const FndCatalogUser *save);
extern int	fnd_catalog_execute(FndCatalogTable *t, SPIPlanPtr plan,
								Datum *values, const char *nulls,
								bool read_only, long limit, bool as_owner);
extern uint64 fnd_catalog_prune(FndCatalogTable *t, int slot, const char *key,
								const char *timecol, int batch,
								TimestampTz cutoff);

#endif							/* FND_CATALOG_H */

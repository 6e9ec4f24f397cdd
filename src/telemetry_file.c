/*-------------------------------------------------------------------------
 *
 * telemetry_file.c
 *	  The dump file that keeps metrics across a server stop, as
 *	  pg_stat_statements does.
 *
 * The postmaster writes every series to FND_TELEMETRY_FILE from an
 * on_shmem_exit callback when it exits (with foundation.telemetry_save on),
 * and reads and removes the file when it creates shared memory.  So:
 *	- a smart, fast or immediate stop keeps the metrics: in each case the
 *	  postmaster waits for its children to be gone and then exits normally;
 *	- a crash of a server process (kill -9, a crash-restart) loses them: the
 *	  postmaster reinitialises shared memory without saving (code != 0), and
 *	  the file read at the last start was removed then.
 * An immediate stop kills backends with SIGQUIT wherever they are, so the
 * save checks what they may have left half done: an entry whose spinlock
 * is still held is left out (and counted as dropped); if a change of the
 * table's structure was cut short (fnd_tel->changing), nothing is saved.
 *
 * The file holds the database OID of each series, but the catalog cannot
 * be read while the postmaster loads it: series of databases dropped since
 * are loaded, and the supervisor's first dropped-database sweep removes
 * them (telemetry.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "storage/fd.h"
#include "storage/shmem.h"

#include "telemetry.h"

#define FND_TELEMETRY_MAGIC	0x464e4454	/* "FNDT" */

typedef struct FndTelemetryFileHeader
{
	uint32		magic;
	uint32		entry_size;		/* sizes of FndMetric + FndSketch: layout check */
	int64		entries;
	uint64		dropped;
} FndTelemetryFileHeader;

/*
 * May this entry be saved?  Not when a backend died holding its spinlock
 * (immediate stop): its counters or sketch may be half updated.
 */
static bool
fnd_file_entry_whole(FndMetric *e)
{
	return SpinLockFree(&e->mutex);
}

/* Write the header and every whole entry; false on a write error. */
static bool
fnd_file_write(FILE *file)
{
	FndTelemetryFileHeader hdr;
	HASH_SEQ_STATUS scan;
	FndMetric  *e;
	int64		whole = 0;
	int64		torn = 0;

	hash_seq_init(&scan, fnd_metrics_htab);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		if (fnd_file_entry_whole(e))
			whole++;
		else
			torn++;
	}
	if (torn > 0)
		ereport(LOG,
				(errmsg("foundation telemetry: " INT64_FORMAT " series were being updated when their backends were stopped and are not saved",
						torn)));

	hdr.magic = FND_TELEMETRY_MAGIC;
	hdr.entry_size = sizeof(FndMetric) + sizeof(FndSketch);
	hdr.entries = whole;
	hdr.dropped = pg_atomic_read_u64(&fnd_tel->dropped) + torn;
	if (fwrite(&hdr, sizeof(hdr), 1, file) != 1)
		return false;

	hash_seq_init(&scan, fnd_metrics_htab);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		if (!fnd_file_entry_whole(e))
			continue;
		if (fwrite(e, sizeof(FndMetric), 1, file) != 1 ||
			(e->kind == FND_HISTOGRAM &&
			 fwrite(&fnd_sketches[e->sketch].sketch, sizeof(FndSketch), 1, file) != 1))
		{
			hash_seq_term(&scan);
			return false;
		}
	}
	return true;
}

/*
 * on_shmem_exit in the postmaster: write every series to the file (see the
 * header comment for when).  No locks: every backend has exited.
 */
void
fnd_telemetry_file_save(int code, Datum arg)
{
	FILE	   *file;
	const char *tmpname = FND_TELEMETRY_FILE ".tmp";

	if (code != 0 || fnd_tel == NULL || fnd_metrics_htab == NULL)
		return;
	if (!fnd_telemetry_save)
	{
		unlink(FND_TELEMETRY_FILE);
		return;
	}
	if (pg_atomic_read_u32(&fnd_tel->changing) != 0)
	{
		ereport(LOG,
				(errmsg("foundation telemetry: metrics not saved, a backend was stopped while changing the metric table")));
		unlink(FND_TELEMETRY_FILE);
		return;
	}

	file = AllocateFile(tmpname, PG_BINARY_W);
	if (file != NULL && fnd_file_write(file))
	{
		if (FreeFile(file) == 0)
		{
			(void) durable_rename(tmpname, FND_TELEMETRY_FILE, LOG);
			return;
		}
		file = NULL;
	}

	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", tmpname)));
	if (file)
		FreeFile(file);
	unlink(tmpname);
}

/*
 * Is a series read from the file sound?  A file of this build passes; the
 * checks keep a damaged one from planting entries that later reads would
 * trust (a kind indexes arrays, a sketch's window indexes its buckets).
 */
static bool
fnd_file_entry_valid(const FndMetric *e, const FndSketch *sk)
{
	const FndMetricKey *k = &e->key;

	if (e->kind < FND_COUNTER || e->kind > FND_KIND_MAX)
		return false;
	if (k->name_len < 1 || k->name_len > FND_NAME_MAX ||
		k->tags_len >= FND_TAGS_BUFSZ ||
		k->name[k->name_len] != '\0' || k->tags[k->tags_len] != '\0' ||
		memchr(k->name, '\0', k->name_len) != NULL ||
		memchr(k->tags, '\0', k->tags_len) != NULL)
		return false;
	return e->kind != FND_HISTOGRAM || fnd_sketch_valid(sk);
}

/*
 * Put one series read from the file into the table.  Returns false when
 * there is no room for it (foundation.max_metrics or max_histograms may
 * have shrunk since it was saved).
 */
static bool
fnd_file_restore(const FndMetric *buf, const FndSketch *sk)
{
	FndMetric  *e;
	bool		found;

	if (hash_get_num_entries(fnd_metrics_htab) >= fnd_max_metrics ||
		(buf->kind == FND_HISTOGRAM && fnd_tel->sketch_free < 0))
		return false;
	e = hash_search(fnd_metrics_htab, &buf->key, HASH_ENTER_NULL, &found);
	if (e == NULL)
		return false;
	if (found)
		return true;			/* a duplicate: the file is damaged */
	memcpy(((char *) e) + sizeof(FndMetricKey),
		   ((const char *) buf) + sizeof(FndMetricKey),
		   sizeof(FndMetric) - sizeof(FndMetricKey));
	SpinLockInit(&e->mutex);
	e->sketch = -1;
	if (e->kind == FND_HISTOGRAM)
	{
		e->sketch = fnd_sketch_slot_take();
		memcpy(&fnd_sketches[e->sketch].sketch, sk, sizeof(FndSketch));
	}
	return true;
}

/* Read the series of an open file whose header is hdr. */
static void
fnd_file_read_entries(FILE *file, const FndTelemetryFileHeader *hdr)
{
	FndMetric  *buf = palloc(sizeof(FndMetric));
	FndSketch  *sk = palloc(sizeof(FndSketch));
	int64		i;

	for (i = 0; i < hdr->entries; i++)
	{
		if (fread(buf, sizeof(FndMetric), 1, file) != 1 ||
			(buf->kind == FND_HISTOGRAM &&
			 fread(sk, sizeof(FndSketch), 1, file) != 1))
		{
			ereport(LOG,
					(errmsg("file \"%s\" is truncated; some metrics were not restored",
							FND_TELEMETRY_FILE)));
			break;
		}
		if (!fnd_file_entry_valid(buf, sk))
		{
			ereport(LOG,
					(errmsg("file \"%s\" is damaged; the metrics after series " INT64_FORMAT " were not restored",
							FND_TELEMETRY_FILE, i)));
			break;
		}
		if (!fnd_file_restore(buf, sk))
			pg_atomic_fetch_add_u64(&fnd_tel->dropped, 1);
	}
	pfree(sk);
	pfree(buf);
}

/*
 * At shared memory creation (postmaster, AddinShmemInitLock held): read the
 * file a stop left, then remove it so a later crash cannot bring stale
 * values back.  A bad file is reported and ignored.
 */
void
fnd_telemetry_file_load(void)
{
	FILE	   *file;
	FndTelemetryFileHeader hdr;

	if (!fnd_telemetry_save)
	{
		unlink(FND_TELEMETRY_FILE);
		return;
	}

	file = AllocateFile(FND_TELEMETRY_FILE, PG_BINARY_R);
	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", FND_TELEMETRY_FILE)));
		return;
	}

	if (fread(&hdr, sizeof(hdr), 1, file) != 1 ||
		hdr.magic != FND_TELEMETRY_MAGIC ||
		hdr.entry_size != sizeof(FndMetric) + sizeof(FndSketch))
		ereport(LOG,
				(errmsg("ignoring file \"%s\": not a foundation telemetry file of this build",
						FND_TELEMETRY_FILE)));
	else
	{
		pg_atomic_write_u64(&fnd_tel->dropped, hdr.dropped);
		fnd_file_read_entries(file, &hdr);
	}

	FreeFile(file);
	unlink(FND_TELEMETRY_FILE);
}

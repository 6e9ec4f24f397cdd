/*-------------------------------------------------------------------------
 *
 * prometheus.c
 *	  fnd_metrics_prometheus(): the current database's metrics in the
 *	  Prometheus text exposition format (version 0.0.4).
 *
 * Counters and gauges are samples, histograms summaries (quantile labels,
 * _sum and _count).  Metric names become [a-zA-Z_:][a-zA-Z0-9_:]* and tag
 * names label names [a-zA-Z_][a-zA-Z0-9_]*: every other byte becomes '_',
 * and a leading digit gets a '_' before it.  The output must parse whatever
 * names and tags were recorded, so:
 *	- Labels.  A tag whose name is a usable label name keeps it.  The others
 *	  are sanitised, given a "tag_" prefix when the result is reserved
 *	  (starts with "__", is "quantile" or is empty) and, when that name is
 *	  taken in the series, become the first free of name_2, name_3, ... in
 *	  the tags' order.  This depends on the series' own tags only, so its
 *	  labels never change with what else is recorded.  Tags whose value is
 *	  null or "" are not labels: Prometheus holds an empty label to be an
 *	  absent one.
 *	- Clashes.  Series whose names sanitise alike (a.b and a_b), whose
 *	  labels come out equal ({} and {"a": ""}, {"a.b": 1} and {"a_b": 1},
 *	  {"n": 1} and {"n": "1"}), or whose samples would take a name another
 *	  family has (a summary h has h_sum and h_count; a metric h_count
 *	  clashes) cannot all be in the output.  The first in this order is
 *	  kept: sanitised name; foundation's own dropped counter, then a metric
 *	  whose name needed no change, then the others by name (bytes); labels;
 *	  a series whose tags are its labels unchanged; tags (text, bytes).  So
 *	  every clash has the same winner at every scrape.  A series left out
 *	  stays in fnd_metrics and is reported by a comment line at the end of
 *	  the output ("# foundation: left out ...").
 *	- Text is escaped as the format requires.  In a SQL_ASCII database,
 *	  bytes that are not UTF-8 become U+FFFD (other encodings are converted
 *	  to the client's by the server).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "telemetry.h"

/* Room for any sample name: a sanitised name (201 bytes) plus "_count". */
#define FND_PROM_NAMEBUF	256

static const char *const fnd_prom_quantiles[FND_QUANTILES] =
{"0.5", "0.9", "0.95", "0.99"};

/* One series of the output. */
typedef struct FndPromSeries
{
	FndMetricRow *row;
	char	   *name;			/* family name, sanitised */
	char	   *labels;			/* label list, sorted, without braces */
	int			rank;			/* keeps a clashing name: lower first */
	bool		relabelled;		/* a tag was renamed or is not a label */
} FndPromSeries;

/* One tag of a series, becoming a label. */
typedef struct FndPromLabel
{
	const char *key;			/* tag name as recorded */
	int			key_len;
	char	   *name;			/* label name */
	char	   *value;			/* escaped label value */
} FndPromLabel;

/* A sample name taken by a family, and that family's metric. */
typedef struct FndPromClaim
{
	char		name[FND_PROM_NAMEBUF];
	const FndPromSeries *owner;
} FndPromClaim;

/* ---------------------------------------------------------------------
 * Names and text
 * ---------------------------------------------------------------------
 */

/* [a-zA-Z_] plus ':' for metric names, plus digits after the first byte */
static inline bool
fnd_prom_name_char(char c, bool first, bool metric)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		(metric && c == ':') || (!first && c >= '0' && c <= '9');
}

/* Append s, every byte not allowed in a name becoming '_'. */
static void
fnd_prom_sanitise(StringInfo out, const char *s, int len, bool metric)
{
	int			i;

	if (len > 0 && s[0] >= '0' && s[0] <= '9')
		appendStringInfoChar(out, '_');
	for (i = 0; i < len; i++)
		appendStringInfoChar(out, fnd_prom_name_char(s[i], false, metric) ? s[i] : '_');
}

/* A label name our output may not use: reserved, or quantile (summaries). */
static bool
fnd_prom_label_reserved(const char *s, int len)
{
	return len == 0 || (len >= 2 && s[0] == '_' && s[1] == '_') ||
		(len == 8 && memcmp(s, "quantile", 8) == 0);
}

/* Can a tag name be used as its label name unchanged? */
static bool
fnd_prom_label_usable(const char *s, int len)
{
	int			i;

	if (fnd_prom_label_reserved(s, len))
		return false;
	for (i = 0; i < len; i++)
		if (!fnd_prom_name_char(s[i], i == 0, false))
			return false;
	return true;
}

/* The label name a tag name becomes before uniqueness within its series. */
static char *
fnd_prom_label_base(const char *s, int len)
{
	StringInfoData ln;

	initStringInfo(&ln);
	fnd_prom_sanitise(&ln, s, len, false);
	if (fnd_prom_label_reserved(ln.data, ln.len))
	{
		StringInfoData p;

		initStringInfo(&p);
		appendStringInfo(&p, "tag_%s", ln.data);
		return p.data;
	}
	return ln.data;
}

/*
 * Escape text for the exposition format: backslash and newline always, the
 * double quote too in label values (HELP text and comments keep it).
 */
static void
fnd_prom_escape(StringInfo out, const char *s, int len, bool label)
{
	bool		check_utf8 = (GetDatabaseEncoding() == PG_SQL_ASCII);
	int			i = 0;

	while (i < len)
	{
		const unsigned char *u = (const unsigned char *) s + i;

		if (*u >= 0x80 && check_utf8)
		{
			int			l = pg_utf_mblen(u);

			if (i + l <= len && pg_utf8_islegal(u, l))
				appendBinaryStringInfo(out, s + i, l);
			else
			{
				appendStringInfoString(out, "\xEF\xBF\xBD");
				l = 1;
			}
			i += l;
			continue;
		}
		if (s[i] == '\\')
			appendStringInfoString(out, "\\\\");
		else if (s[i] == '"' && label)
			appendStringInfoString(out, "\\\"");
		else if (s[i] == '\n')
			appendStringInfoString(out, "\\n");
		else
			appendStringInfoChar(out, s[i]);
		i++;
	}
}

static void
fnd_prom_value(StringInfo out, double d)
{
	if (isnan(d))
		appendStringInfoString(out, "NaN");
	else if (isinf(d))
		appendStringInfoString(out, d > 0 ? "+Inf" : "-Inf");
	else
	{
		char		buf[64];

		snprintf(buf, sizeof(buf), "%.17g", d);
		appendStringInfoString(out, buf);
	}
}

/* ---------------------------------------------------------------------
 * Labels of one series
 * ---------------------------------------------------------------------
 */

/* A tag value as an escaped label value; NULL for null and "". */
static char *
fnd_prom_label_value(const JsonbValue *v)
{
	StringInfoData buf;

	initStringInfo(&buf);
	switch (v->type)
	{
		case jbvString:
			if (v->val.string.len == 0)
				return NULL;
			fnd_prom_escape(&buf, v->val.string.val, v->val.string.len, true);
			break;
		case jbvNumeric:
			appendStringInfoString(&buf,
								   DatumGetCString(DirectFunctionCall1(numeric_out,
																	   NumericGetDatum(v->val.numeric))));
			break;
		case jbvBool:
			appendStringInfoString(&buf, v->val.boolean ? "true" : "false");
			break;
		default:
			return NULL;		/* null: no label */
	}
	return buf.data;
}

/*
 * The tags of key with a value, in the tags' (jsonb) order; *dropped tells
 * whether a tag had none.
 */
static FndPromLabel *
fnd_prom_collect_tags(const FndMetricKey *key, int *nlabels, bool *dropped)
{
	Jsonb	   *jb = DatumGetJsonbP(fnd_tags_datum(key));
	FndPromLabel *labels = palloc(sizeof(FndPromLabel) * (JB_ROOT_COUNT(jb) + 1));
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			labels[n].key = v.val.string.val;
			labels[n].key_len = v.val.string.len;
			labels[n].name = NULL;
		}
		else if (tok == WJB_VALUE)
		{
			labels[n].value = fnd_prom_label_value(&v);
			if (labels[n].value != NULL)
				n++;
			else
				*dropped = true;
		}
	}
	*nlabels = n;
	return labels;
}

static bool
fnd_prom_label_taken(const FndPromLabel *labels, int n, const char *name)
{
	int			i;

	for (i = 0; i < n; i++)
		if (labels[i].name != NULL && strcmp(labels[i].name, name) == 0)
			return true;
	return false;
}

/*
 * Name the labels: usable tag names first, then the others, made unique.
 * Returns whether a tag was renamed.
 */
static bool
fnd_prom_name_labels(FndPromLabel *labels, int n)
{
	int			i;
	bool		renamed = false;

	for (i = 0; i < n; i++)
		if (fnd_prom_label_usable(labels[i].key, labels[i].key_len))
			labels[i].name = pnstrdup(labels[i].key, labels[i].key_len);

	for (i = 0; i < n; i++)
	{
		char	   *base;
		char	   *name;
		int			suffix = 2;

		if (labels[i].name != NULL)
			continue;
		base = fnd_prom_label_base(labels[i].key, labels[i].key_len);
		name = base;
		while (fnd_prom_label_taken(labels, n, name))
			name = psprintf("%s_%d", base, suffix++);
		labels[i].name = name;
		renamed = true;
	}
	return renamed;
}

static int
fnd_prom_label_cmp(const void *a, const void *b)
{
	return strcmp(((const FndPromLabel *) a)->name,
				  ((const FndPromLabel *) b)->name);
}

/*
 * The label list of a series, without braces, sorted by label name; sets
 * *relabelled when it is not just the tags as they were recorded.
 */
static char *
fnd_prom_labels(const FndMetricKey *key, bool *relabelled)
{
	StringInfoData buf;
	FndPromLabel *labels;
	int			n;
	int			i;

	initStringInfo(&buf);
	*relabelled = false;
	if (key->tags_len == 0)
		return buf.data;

	labels = fnd_prom_collect_tags(key, &n, relabelled);
	if (fnd_prom_name_labels(labels, n))
		*relabelled = true;
	qsort(labels, n, sizeof(FndPromLabel), fnd_prom_label_cmp);
	for (i = 0; i < n; i++)
		appendStringInfo(&buf, "%s%s=\"%s\"", i > 0 ? "," : "",
						 labels[i].name, labels[i].value);
	return buf.data;
}

/* ---------------------------------------------------------------------
 * Series, families and clashes
 * ---------------------------------------------------------------------
 */

static int
fnd_prom_cmp(const void *a, const void *b)
{
	const FndPromSeries *x = (const FndPromSeries *) a;
	const FndPromSeries *y = (const FndPromSeries *) b;
	const FndMetricKey *kx = &x->row->key;
	const FndMetricKey *ky = &y->row->key;
	int			c;

	c = strcmp(x->name, y->name);
	if (c == 0)
		c = x->rank - y->rank;
	if (c == 0)
		c = memcmp(kx->name, ky->name, Min(kx->name_len, ky->name_len));
	if (c == 0)
		c = (int) kx->name_len - (int) ky->name_len;
	if (c == 0)
		c = strcmp(x->labels, y->labels);
	if (c == 0)
		c = (int) x->relabelled - (int) y->relabelled;
	if (c == 0)
		c = strcmp(kx->tags, ky->tags); /* zero-padded: no tags first */
	return c;
}

/* Every row as a series of the output, in the order that decides clashes. */
static FndPromSeries *
fnd_prom_series(FndMetricRow *rows, int n)
{
	FndPromSeries *ser = palloc(sizeof(FndPromSeries) * n);
	int			i;

	for (i = 0; i < n; i++)
	{
		StringInfoData nm;
		const FndMetricKey *k = &rows[i].key;

		CHECK_FOR_INTERRUPTS();
		initStringInfo(&nm);
		fnd_prom_sanitise(&nm, k->name, k->name_len, true);
		ser[i].row = &rows[i];
		ser[i].name = nm.data;
		ser[i].labels = fnd_prom_labels(k, &ser[i].relabelled);
		/* the dropped counter is the snapshot's last row */
		if (i == n - 1)
			ser[i].rank = 0;
		else if (nm.len == k->name_len && memcmp(nm.data, k->name, nm.len) == 0)
			ser[i].rank = 1;
		else
			ser[i].rank = 2;
	}
	qsort(ser, n, sizeof(FndPromSeries), fnd_prom_cmp);
	return ser;
}

/*
 * Take the sample names of the family s starts (its name; for a summary
 * also name_sum and name_count).  When one is taken already, take none and
 * return the family that has it.
 */
static const FndPromSeries *
fnd_prom_claim(HTAB *claims, const FndPromSeries *s)
{
	static const char *const suffixes[] = {"", "_sum", "_count"};
	int			nsuffixes = (s->row->kind == FND_HISTOGRAM) ? 3 : 1;
	char		names[3][FND_PROM_NAMEBUF];
	int			i;

	for (i = 0; i < nsuffixes; i++)
	{
		FndPromClaim *c;

		snprintf(names[i], FND_PROM_NAMEBUF, "%s%s", s->name, suffixes[i]);
		c = hash_search(claims, names[i], HASH_FIND, NULL);
		if (c != NULL)
			return c->owner;
	}
	for (i = 0; i < nsuffixes; i++)
	{
		FndPromClaim *c = hash_search(claims, names[i], HASH_ENTER, NULL);

		c->owner = s;
	}
	return NULL;
}

/* The text of a key's tags, "{}" when there are none. */
static const char *
fnd_prom_tags_text(const FndMetricKey *k)
{
	return k->tags_len > 0 ? k->tags : "{}";
}

/* Report a series that is left out, as a comment line of notes. */
static void
fnd_prom_left_out(StringInfo notes, const FndPromSeries *s,
				  const char *reason, const char *detail)
{
	const FndMetricKey *k = &s->row->key;

	appendStringInfo(notes, "# foundation: left out %s \"",
					 fnd_kind_names[s->row->kind]);
	fnd_prom_escape(notes, k->name, k->name_len, false);
	appendStringInfoString(notes, "\" ");
	fnd_prom_escape(notes, fnd_prom_tags_text(k), strlen(fnd_prom_tags_text(k)),
					false);
	appendStringInfo(notes, ": %s ", reason);
	fnd_prom_escape(notes, detail, strlen(detail), false);
	appendStringInfoChar(notes, '\n');
}

/* ---------------------------------------------------------------------
 * Output
 * ---------------------------------------------------------------------
 */

/* One sample line: name[suffix]{labels[,extra]} value */
static void
fnd_prom_sample(StringInfo out, const char *name, const char *suffix,
				const char *labels, const char *extra, double value)
{
	appendStringInfoString(out, name);
	appendStringInfoString(out, suffix);
	if (labels[0] != '\0' || extra != NULL)
	{
		appendStringInfoChar(out, '{');
		appendStringInfoString(out, labels);
		if (extra != NULL)
		{
			if (labels[0] != '\0')
				appendStringInfoChar(out, ',');
			appendStringInfoString(out, extra);
		}
		appendStringInfoChar(out, '}');
	}
	appendStringInfoChar(out, ' ');
	fnd_prom_value(out, value);
	appendStringInfoChar(out, '\n');
}

/* The HELP and TYPE lines of the family s starts. */
static void
fnd_prom_family_head(StringInfo out, const FndPromSeries *s)
{
	const FndMetricRow *r = s->row;

	appendStringInfo(out, "# HELP %s foundation %s ", s->name,
					 fnd_kind_names[r->kind]);
	fnd_prom_escape(out, r->key.name, r->key.name_len, false);
	appendStringInfoChar(out, '\n');
	appendStringInfo(out, "# TYPE %s %s\n", s->name,
					 r->kind == FND_HISTOGRAM ? "summary" : fnd_kind_names[r->kind]);
}

/* The samples of one series. */
static void
fnd_prom_series_samples(StringInfo out, const FndPromSeries *s)
{
	const FndMetricRow *r = s->row;
	int			j;

	if (r->kind == FND_COUNTER)
		fnd_prom_sample(out, s->name, "", s->labels, NULL, r->sum);
	else if (r->kind == FND_GAUGE)
		fnd_prom_sample(out, s->name, "", s->labels, NULL, r->last);
	else
	{
		for (j = 0; j < FND_QUANTILES; j++)
		{
			char		extra[32];

			snprintf(extra, sizeof(extra), "quantile=\"%s\"", fnd_prom_quantiles[j]);
			fnd_prom_sample(out, s->name, "", s->labels, extra, r->q[j]);
		}
		fnd_prom_sample(out, s->name, "_sum", s->labels, NULL, r->sum);
		fnd_prom_sample(out, s->name, "_count", s->labels, NULL, (double) r->count);
	}
}

static HTAB *
fnd_prom_claims_create(int n)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = FND_PROM_NAMEBUF;
	info.entrysize = sizeof(FndPromClaim);
	info.hcxt = CurrentMemoryContext;
	return hash_create("foundation prometheus names", n * 3 + 1, &info,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/*
 * Why series s cannot join its family (NULL: it can), and whom that is
 * about in *detail.  family is the first series of its sanitised name,
 * taken_by the family that has that name already (or NULL), prev the last
 * series written in this family (or NULL).
 */
static const char *
fnd_prom_left_out_reason(const FndPromSeries *s, const FndPromSeries *family,
						 const FndPromSeries *taken_by,
						 const FndPromSeries *prev, const char **detail)
{
	const FndMetricKey *k = &s->row->key;
	const FndMetricKey *fk = &family->row->key;

	if (taken_by != NULL)
	{
		*detail = psprintf("\"%s\"", taken_by->row->key.name);
		return "its Prometheus name is taken by the samples of";
	}
	if (k->name_len != fk->name_len || memcmp(k->name, fk->name, k->name_len) != 0)
	{
		*detail = psprintf("\"%s\"", fk->name);
		return "its Prometheus name is that of";
	}
	if (s->row->kind != family->row->kind)
	{
		*detail = fnd_prom_tags_text(fk);
		return "its family has the kind of the series with tags";
	}
	if (prev != NULL && strcmp(prev->labels, s->labels) == 0)
	{
		*detail = fnd_prom_tags_text(&prev->row->key);
		return "its labels are those of the series with tags";
	}
	return NULL;
}

/*
 * fnd_metrics_prometheus(): the sorted series are walked once; the first
 * series of each sanitised name starts its family, and every series that
 * cannot join the output (see the file's header) is reported at the end.
 */
PG_FUNCTION_INFO_V1(fnd_metrics_prometheus);
Datum
fnd_metrics_prometheus(PG_FUNCTION_ARGS)
{
	FndMetricRow *rows;
	FndPromSeries *ser;
	int			n;
	int			i;
	StringInfoData out;
	StringInfoData notes;
	HTAB	   *claims;
	const FndPromSeries *family = NULL; /* first series of the family */
	const FndPromSeries *taken_by = NULL;	/* the family's name is taken */
	const FndPromSeries *prev = NULL;	/* last series written */

	fnd_require_shmem();
	rows = fnd_telemetry_snapshot(MyDatabaseId, false, &n);
	ser = fnd_prom_series(rows, n);
	claims = fnd_prom_claims_create(n);
	initStringInfo(&out);
	initStringInfo(&notes);

	for (i = 0; i < n; i++)
	{
		const FndPromSeries *s = &ser[i];
		const char *reason;
		const char *detail = NULL;

		CHECK_FOR_INTERRUPTS();
		if (family == NULL || strcmp(family->name, s->name) != 0)
		{
			family = s;
			prev = NULL;
			taken_by = fnd_prom_claim(claims, s);
			if (taken_by == NULL)
				fnd_prom_family_head(&out, s);
		}
		reason = fnd_prom_left_out_reason(s, family, taken_by, prev, &detail);
		if (reason != NULL)
			fnd_prom_left_out(&notes, s, reason, detail);
		else
		{
			fnd_prom_series_samples(&out, s);
			prev = s;
		}
	}

	appendBinaryStringInfo(&out, notes.data, notes.len);
	hash_destroy(claims);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

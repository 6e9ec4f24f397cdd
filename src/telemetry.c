/*-------------------------------------------------------------------------
 *
 * telemetry.c
 *	  Shared-memory counters, gauges and histograms.
 *
 * Not yet built: the self-instrumentation API below is a no-op until the
 * telemetry issue lands, so other subsystems can call it already.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foundation.h"

const FndService fnd_telemetry_service = {
	.name = "telemetry",
	.phase = 0,
	.depends_on = "",
};

void
fnd_telemetry_count(const char *name, double by)
{
}

void
fnd_telemetry_gauge(const char *name, double value)
{
}

void
fnd_telemetry_observe(const char *name, double value)
{
}

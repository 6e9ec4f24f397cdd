-- events: the event store table (SPEC §4).  Functions land with the
-- config and events issue.

CREATE TABLE fnd_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}',
    "timestamp" timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE fnd_events IS
'Durable, append-only events: id, type, data (a JSON object) and timestamp';

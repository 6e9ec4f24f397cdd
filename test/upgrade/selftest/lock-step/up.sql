-- changes: none
-- Holds a lock that blocks fnd_store_event for 300 ms.
LOCK TABLE @extschema@.fnd_events IN ACCESS EXCLUSIVE MODE;
SELECT pg_sleep(0.3);

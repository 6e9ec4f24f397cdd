-- changes: none
-- Takes 1.2 s without blocking anyone.
SELECT pg_sleep(1.2);

-- keeps: none
-- changes: none
-- ... and the downgrade forgets to change it back.
SELECT 1;

-- keeps: none
-- changes: none
SELECT 1;

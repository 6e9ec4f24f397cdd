-- changes: none
SELECT 1;

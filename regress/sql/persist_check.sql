-- Run after the server was killed (-9) or restarted: committed rows are all
-- there, exactly as persist_write left them.
SELECT count(*), sum(id), count(big), sum(length(big)) FROM persist_rows;
SELECT count(*) FROM persist_rows WHERE payload LIKE '% updated';
SELECT count(*) FROM persist_rows WHERE id % 7 = 0;
SELECT * FROM persist_truncated;
-- and the table still takes writes
INSERT INTO persist_rows VALUES (-1, 'after restart', NULL);
DELETE FROM persist_rows WHERE id = -1;

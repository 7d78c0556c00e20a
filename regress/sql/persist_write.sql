-- Writes committed rows that persist_check reads after kill -9 and restart.
CREATE TABLE persist_rows (id int, payload text, big text) USING lyra;
INSERT INTO persist_rows SELECT g, 'row ' || g, CASE WHEN g % 100 = 0 THEN repeat('p', 100000) END
  FROM generate_series(1, 5000) g;
UPDATE persist_rows SET payload = payload || ' updated' WHERE id % 10 = 0;
DELETE FROM persist_rows WHERE id % 7 = 0;
-- a committed truncate-and-reload, and an uncommitted change that must vanish
CREATE TABLE persist_truncated (id int) USING lyra;
INSERT INTO persist_truncated VALUES (1), (2);
BEGIN;
TRUNCATE persist_truncated;
INSERT INTO persist_truncated VALUES (3);
COMMIT;
SELECT count(*), sum(id), count(big), sum(length(big)) FROM persist_rows;
SELECT * FROM persist_truncated;
-- left open when this session ends: must never be seen
BEGIN;
INSERT INTO persist_rows VALUES (0, 'uncommitted', NULL);
DELETE FROM persist_truncated;

-- LyraScan: index scans of Lyra tables as one custom scan node.
CREATE TABLE acct (id int PRIMARY KEY, owner text, grp int, bal numeric) USING lyra;
CREATE INDEX acct_grp ON acct (grp, owner);
INSERT INTO acct SELECT g, 'o' || g, g % 10, g * 10 FROM generate_series(1, 2000) g;
ANALYZE acct;
-- The first read in a session learns the table's and index's ids; warm up.
SELECT owner FROM acct WHERE id = 1;

-- A point lookup by primary key: the entry and its row in one round trip.
EXPLAIN (COSTS OFF) SELECT * FROM acct WHERE id = 42;
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM acct WHERE id = 42;
SELECT * FROM acct WHERE id = 42;
SELECT * FROM acct WHERE id = 4242;

-- A range: the entries and their rows in one round trip per page; the
-- filter the index cannot decide stays in the plan.
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT id, owner FROM acct WHERE id BETWEEN 100 AND 109 AND owner LIKE '%5';
SELECT id, owner FROM acct WHERE id BETWEEN 100 AND 109 AND owner LIKE '%5';
SELECT count(*), sum(bal) FROM acct WHERE id > 1990;

-- A prefix of a two-column index, then both columns.
EXPLAIN (VERBOSE, COSTS OFF) SELECT id FROM acct WHERE grp = 3 AND owner = 'o13';
SELECT id FROM acct WHERE grp = 3 AND owner = 'o13';
SELECT count(*) FROM acct WHERE grp = 3;
SELECT id FROM acct WHERE grp = 3 AND owner > 'o1990' ORDER BY owner LIMIT 5;

-- Backward, for ORDER BY … DESC; and min/max.
EXPLAIN (COSTS OFF) SELECT id FROM acct WHERE id < 100 ORDER BY id DESC LIMIT 3;
SELECT id FROM acct WHERE id < 100 ORDER BY id DESC LIMIT 3;
SELECT min(id), max(id) FROM acct;

-- Parameters: a prepared statement's generic plan takes its key at run time.
SET plan_cache_mode = force_generic_plan;
PREPARE by_id(int) AS SELECT owner, bal FROM acct WHERE id = $1;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE by_id(7);
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE by_id(7);
EXECUTE by_id(7);
EXECUTE by_id(8);
RESET plan_cache_mode;

-- The inner side of a nested loop: one lookup per outer row.
CREATE TABLE pick (n int) USING lyra;
INSERT INTO pick VALUES (5), (50), (500), (5000);
ANALYZE pick;
SET enable_hashjoin = off; SET enable_mergejoin = off;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT p.n, a.owner FROM pick p JOIN acct a ON a.id = p.n;
SELECT p.n, a.owner FROM pick p JOIN acct a ON a.id = p.n ORDER BY p.n;
RESET enable_hashjoin; RESET enable_mergejoin;

-- This transaction's own writes: buffered entries and rows win over the
-- committed ones the node sends along.
BEGIN;
UPDATE acct SET bal = -1 WHERE id = 42;
UPDATE acct SET owner = 'moved' WHERE id = 43;
DELETE FROM acct WHERE id = 44;
INSERT INTO acct VALUES (2001, 'new', 3, 0);
SELECT * FROM acct WHERE id BETWEEN 41 AND 45 ORDER BY id;
SELECT * FROM acct WHERE id = 42;
SELECT id, owner FROM acct WHERE grp = 3 AND owner IN ('o43', 'moved', 'new') ORDER BY id;
SELECT id, owner FROM acct WHERE grp = 3 AND owner >= 'n' AND owner < 'o' ORDER BY id;
ROLLBACK;
SELECT * FROM acct WHERE id BETWEEN 41 AND 45 ORDER BY id;

-- A scrollable cursor turns around.
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT id FROM acct WHERE id <= 5 ORDER BY id;
FETCH 3 FROM c;
FETCH BACKWARD 2 FROM c;
FETCH LAST FROM c;
COMMIT;

-- Ranges the encoding cannot bound exactly are rechecked: a date key
-- against a timestamp column.
CREATE TABLE ev (at timestamp PRIMARY KEY, what text) USING lyra;
INSERT INTO ev VALUES ('2026-01-01 10:00', 'a'), ('2026-01-02 00:00', 'b'), ('2026-01-03 12:00', 'c');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT what FROM ev WHERE at >= date '2026-01-02' ORDER BY at;
SELECT what FROM ev WHERE at >= date '2026-01-02' ORDER BY at;
SELECT what FROM ev WHERE at < date '2026-01-02';
RESET enable_seqscan;

-- Off: Postgres's own index scan over the same index, same answers.
SET lyra.enable_lyrascan = off;
EXPLAIN (COSTS OFF) SELECT * FROM acct WHERE id = 42;
SELECT * FROM acct WHERE id = 42;
RESET lyra.enable_lyrascan;

DROP TABLE acct, pick, ev;

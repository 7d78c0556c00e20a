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

-- A LIMIT the scan's rows go straight to sizes its first request; not
-- under a filter, a sort or a join, which may need more rows.
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT id FROM acct WHERE id > 10 ORDER BY id LIMIT 3 OFFSET 2;
SELECT id FROM acct WHERE id > 10 ORDER BY id LIMIT 3 OFFSET 2;
EXPLAIN (COSTS OFF) SELECT id FROM acct WHERE id > 10 AND owner LIKE '%7' ORDER BY id LIMIT 3;
SELECT id FROM acct WHERE id > 10 AND owner LIKE '%7' ORDER BY id LIMIT 3;
EXPLAIN (COSTS OFF) SELECT id FROM acct WHERE id BETWEEN 10 AND 20 ORDER BY owner LIMIT 3;
SELECT id FROM acct WHERE id BETWEEN 10 AND 20 ORDER BY owner LIMIT 3;

-- Backward, for ORDER BY … DESC; and min/max.
EXPLAIN (COSTS OFF) SELECT id FROM acct WHERE id < 100 ORDER BY id DESC LIMIT 3;
SELECT id FROM acct WHERE id < 100 ORDER BY id DESC LIMIT 3;
SELECT min(id), max(id) FROM acct;

-- IN lists and = ANY: the points of a unique index in one round trip, in
-- key order, duplicates and NULLs dropped; other indexes read one range
-- per combination of elements.
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT id, owner FROM acct WHERE id IN (5, 3, 700, 3, 99999);
SELECT id, owner FROM acct WHERE id IN (5, 3, 700, 3, 99999);
SELECT id FROM acct WHERE id IN (5, 3, 700) ORDER BY id DESC;
SELECT id FROM acct WHERE id = ANY('{}'::int[]);
SELECT id FROM acct WHERE id = ANY(ARRAY[1, NULL, 2]);
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT id FROM acct WHERE grp IN (3, 1) AND owner IN ('o3', 'o11', 'o13', 'x');
SELECT id FROM acct WHERE grp IN (3, 1) AND owner IN ('o3', 'o11', 'o13', 'x') ORDER BY id;
SELECT id FROM acct WHERE grp = ANY('{2,4}') AND id < 30 ORDER BY grp, owner;
BEGIN;
DECLARE c2 SCROLL CURSOR FOR SELECT id FROM acct WHERE id IN (1, 2, 3) ORDER BY id;
FETCH 2 FROM c2;
FETCH BACKWARD 1 FROM c2;
FETCH LAST FROM c2;
FETCH BACKWARD 5 FROM c2;
FETCH NEXT FROM c2;
DECLARE c3 SCROLL CURSOR FOR SELECT id FROM acct WHERE grp IN (1, 2) AND id < 25 ORDER BY grp, owner;
FETCH 3 FROM c3;
FETCH BACKWARD 2 FROM c3;
FETCH ALL FROM c3;
FETCH BACKWARD 3 FROM c3;
COMMIT;

-- Parameters: a prepared statement's generic plan takes its key at run time.
SET plan_cache_mode = force_generic_plan;
PREPARE by_id(int) AS SELECT owner, bal FROM acct WHERE id = $1;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE by_id(7);
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE by_id(7);
EXECUTE by_id(7);
EXECUTE by_id(8);
PREPARE by_ids(int[]) AS SELECT id FROM acct WHERE id = ANY($1) ORDER BY id;
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE by_ids('{10,20,30,40}');
EXECUTE by_ids('{10,20,30,40}');
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
SELECT id, owner FROM acct WHERE id IN (42, 43, 44, 2001) ORDER BY id;
SELECT id, owner FROM acct WHERE grp = 3 AND owner IN ('new', 'o13') ORDER BY id;
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
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT what FROM ev WHERE at >= date '2026-01-02' ORDER BY at;
SELECT what FROM ev WHERE at >= date '2026-01-02' ORDER BY at;
SELECT what FROM ev WHERE at < date '2026-01-02';
RESET enable_seqscan;
RESET enable_bitmapscan;

-- Pseudo-constant conditions gate the scan (a Result above it).
EXPLAIN (COSTS OFF) SELECT * FROM acct WHERE id = 1 AND id = 2;
SELECT * FROM acct WHERE id = 1 AND id = 2;
PREPARE gated(int) AS SELECT owner FROM acct WHERE id = 5 AND $1 > 0;
EXECUTE gated(1);
EXECUTE gated(0);
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE gated(1);
EXECUTE gated(1);
RESET plan_cache_mode;

-- Off: Postgres's own index scan over the same index, same answers.
SET lyra.enable_lyrascan = off;
EXPLAIN (COSTS OFF) SELECT * FROM acct WHERE id = 42;
SELECT * FROM acct WHERE id = 42;
RESET lyra.enable_lyrascan;

-- a statement that locks what it reads finds a small table's row by key:
-- the point lookup takes the lock with its read (one round trip), a scan
-- would read, then lock (two); a plain read of it needs no lock and may
-- scan the ten rows instead
CREATE TABLE small (id int PRIMARY KEY, v int) USING lyra;
INSERT INTO small SELECT g, 0 FROM generate_series(1, 10) g;
ANALYZE small;
EXPLAIN (COSTS OFF) UPDATE small SET v = v + 1 WHERE id = 3;
EXPLAIN (COSTS OFF) DELETE FROM small WHERE id = 3;
EXPLAIN (COSTS OFF) SELECT * FROM small WHERE id = 3 FOR UPDATE;
EXPLAIN (COSTS OFF) SELECT * FROM small WHERE id = 3;
UPDATE small SET v = v + 1 WHERE id = 3;
SELECT * FROM small WHERE id = 3 FOR UPDATE;
DROP TABLE small;

-- a row this transaction locked by key and then wrote is read back by key
-- from its own buffer: no round trip (TPC-B's SELECT after its UPDATE)
BEGIN;
UPDATE acct SET bal = bal + 1 WHERE id = 7;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT bal FROM acct WHERE id = 7;
SELECT bal FROM acct WHERE id = 7;
-- rolled back to before the write: the node's row again
SAVEPOINT s;
UPDATE acct SET bal = 0 WHERE id = 7;
SELECT bal FROM acct WHERE id = 7;
ROLLBACK TO s;
SELECT bal FROM acct WHERE id = 7;
-- a key changed by this transaction: the old key finds nothing, the new one the row
UPDATE acct SET id = 9007 WHERE id = 7;
SELECT id, bal FROM acct WHERE id = 7;
SELECT id, bal FROM acct WHERE id = 9007;
-- locked but not written (FOR UPDATE): read from the node
SELECT bal FROM acct WHERE id = 8 FOR UPDATE;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT bal FROM acct WHERE id = 8;
ROLLBACK;
SELECT id, bal FROM acct WHERE id IN (7, 9007);

DROP TABLE acct, pick, ev;
-- TABLESAMPLE: blocks of 291 row ids; SYSTEM takes whole blocks, BERNOULLI
-- single rows; REPEATABLE samples the same rows again
CREATE TABLE sampled (id int, v text) USING lyra;
INSERT INTO sampled SELECT g, 'v' || g FROM generate_series(1, 20000) g;
DELETE FROM sampled WHERE id % 3 = 0;
SELECT count(*) FROM sampled TABLESAMPLE SYSTEM (100);
SELECT count(*) FROM sampled TABLESAMPLE BERNOULLI (100);
SELECT count(*) FROM sampled TABLESAMPLE SYSTEM (0);
SELECT count(*) FROM sampled TABLESAMPLE SYSTEM (10) REPEATABLE (7);
SELECT count(*) FROM sampled TABLESAMPLE BERNOULLI (10) REPEATABLE (7);
SELECT (SELECT array_agg(id) FROM sampled TABLESAMPLE BERNOULLI (1) REPEATABLE (3))
     = (SELECT array_agg(id) FROM sampled TABLESAMPLE BERNOULLI (1) REPEATABLE (3)) AS same_rows;
-- whole blocks: a SYSTEM sample's rows are runs of neighbouring ids
SELECT count(DISTINCT (ctid::text::point)[0]) AS blocks, count(*) AS rows
  FROM sampled TABLESAMPLE SYSTEM (10) REPEATABLE (7);
-- the transaction's own changes, a filter, a rescan with another percentage
BEGIN;
DELETE FROM sampled WHERE id < 10000;
INSERT INTO sampled VALUES (30000, 'new');
SELECT count(*) FROM sampled TABLESAMPLE SYSTEM (100);
ROLLBACK;
SELECT count(*) FROM sampled TABLESAMPLE BERNOULLI (100) WHERE v LIKE 'v1%';
SELECT p, n FROM (VALUES (0), (100)) x(p),
  LATERAL (SELECT count(*) AS n FROM sampled TABLESAMPLE BERNOULLI (x.p) REPEATABLE (1)) s;
CREATE EXTENSION IF NOT EXISTS tsm_system_rows;
SELECT count(*) FROM sampled TABLESAMPLE system_rows (25);
DROP TABLE sampled;

-- INSERT ... ON CONFLICT on Lyra tables: Postgres's speculative insertion
-- with lyra_index arbiters (concurrent cases: regress/isolation/upsert).
CREATE TABLE kv (k int PRIMARY KEY, v int, tag text UNIQUE) USING lyra;
INSERT INTO kv VALUES (1, 1, 'a') ON CONFLICT DO NOTHING;
INSERT INTO kv VALUES (1, 2, 'b') ON CONFLICT DO NOTHING;          -- conflict on k
INSERT INTO kv VALUES (2, 2, 'a') ON CONFLICT DO NOTHING;          -- conflict on tag
INSERT INTO kv VALUES (2, 2, 'a') ON CONFLICT (k) DO NOTHING;      -- tag is no arbiter
SELECT * FROM kv ORDER BY k;
INSERT INTO kv VALUES (1, 10, 'z') ON CONFLICT (k) DO UPDATE SET v = kv.v + excluded.v RETURNING *;
INSERT INTO kv VALUES (3, 3, 'a') ON CONFLICT (tag) DO UPDATE SET v = 100 RETURNING *;
INSERT INTO kv VALUES (1, 0, 'q') ON CONFLICT (k) DO UPDATE SET v = -1 WHERE kv.v > 1000 RETURNING *;
INSERT INTO kv VALUES (1, 0, 'q') ON CONFLICT ON CONSTRAINT kv_pkey DO UPDATE SET tag = excluded.tag;
-- the same key twice in one statement
INSERT INTO kv VALUES (5, 5, 'e'), (5, 6, 'f') ON CONFLICT (k) DO UPDATE SET v = excluded.v;
INSERT INTO kv VALUES (5, 5, 'e'), (5, 6, 'f') ON CONFLICT DO NOTHING;
INSERT INTO kv VALUES (1, 0, 'x'), (1, 0, 'y') ON CONFLICT (k) DO UPDATE SET v = 0;   -- an existing row
-- many rows, some new, some not
INSERT INTO kv SELECT g, g, 't' || g FROM generate_series(1, 8) g
  ON CONFLICT (k) DO UPDATE SET v = kv.v + 1000;
SELECT * FROM kv ORDER BY k;
-- inside a transaction, with a savepoint rolled back
BEGIN;
INSERT INTO kv VALUES (9, 9, 'n') ON CONFLICT (k) DO UPDATE SET v = 0;
SAVEPOINT s;
INSERT INTO kv VALUES (9, 9, 'n') ON CONFLICT (k) DO UPDATE SET v = 99;
ROLLBACK TO s;
INSERT INTO kv VALUES (9, 9, 'n') ON CONFLICT (k) DO UPDATE SET v = kv.v + 1;
COMMIT;
SELECT * FROM kv WHERE k = 9;
-- a conflict found, and the row taken back, leaves no index entry behind
SET enable_seqscan = off;
SELECT count(*) FROM kv WHERE tag = 'n';
SELECT count(*) FROM kv WHERE k = 9;
RESET enable_seqscan;
-- under REPEATABLE READ a row committed after the snapshot is a
-- serialization failure, one of its own is not
BEGIN ISOLATION LEVEL REPEATABLE READ;
INSERT INTO kv VALUES (10, 1, 'r1') ON CONFLICT (k) DO UPDATE SET v = 2;
INSERT INTO kv VALUES (10, 1, 'r1') ON CONFLICT (k) DO UPDATE SET v = 3 RETURNING *;
COMMIT;
-- partial unique index as arbiter
CREATE TABLE job (id int, state text, owner int) USING lyra;
CREATE UNIQUE INDEX job_active ON job (owner) WHERE state = 'active';
INSERT INTO job VALUES (1, 'active', 7);
INSERT INTO job VALUES (2, 'active', 7) ON CONFLICT (owner) WHERE state = 'active' DO NOTHING;
INSERT INTO job VALUES (3, 'done', 7) ON CONFLICT (owner) WHERE state = 'active' DO NOTHING;
SELECT * FROM job ORDER BY id;
-- NULLS NOT DISTINCT: a NULL key conflicts with a NULL key
CREATE TABLE nnd (i int UNIQUE NULLS NOT DISTINCT, t text) USING lyra;
INSERT INTO nnd VALUES (NULL, 'first');
INSERT INTO nnd VALUES (NULL, 'second') ON CONFLICT DO NOTHING;
INSERT INTO nnd VALUES (NULL, 'third') ON CONFLICT (i) DO UPDATE SET t = nnd.t || '+third';
SELECT * FROM nnd;
DROP TABLE nnd;
-- into a partitioned table, with and without indexes, at two levels
-- (the partitions' indexes pass as btrees for Postgres's speculative
-- insertion while the statement runs; Lyra's planner still sees them as
-- lyra_index: the savepoint's failed upsert leaves them so)
CREATE TABLE part (k int, v int) PARTITION BY RANGE (k);
CREATE TABLE part_1 PARTITION OF part FOR VALUES FROM (0) TO (100) USING lyra;
INSERT INTO part VALUES (1, 1) ON CONFLICT DO NOTHING;
CREATE UNIQUE INDEX ON part_1 (k);
INSERT INTO part VALUES (1, 2), (2, 2) ON CONFLICT DO NOTHING;
SELECT * FROM part ORDER BY k;
CREATE TABLE pq (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE pq1 PARTITION OF pq FOR VALUES FROM (0) TO (100) USING lyra;
CREATE TABLE pq2 PARTITION OF pq FOR VALUES FROM (100) TO (200) PARTITION BY RANGE (id);
CREATE TABLE pq21 PARTITION OF pq2 FOR VALUES FROM (100) TO (200) USING lyra;
INSERT INTO pq VALUES (1, 'a'), (150, 'b');
INSERT INTO pq VALUES (1, 'x'), (150, 'y'), (2, 'z') ON CONFLICT (id) DO UPDATE SET v = pq.v || excluded.v RETURNING *;
INSERT INTO pq VALUES (1, 'q'), (3, 'w') ON CONFLICT DO NOTHING RETURNING *;
INSERT INTO pq VALUES (150, 'dup');
BEGIN;
SAVEPOINT s;
INSERT INTO pq VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET v = 1/0;
ROLLBACK TO s;
SET LOCAL enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM pq WHERE id = 1;
INSERT INTO pq VALUES (4, 'r') ON CONFLICT (id) DO NOTHING;
COMMIT;
SELECT * FROM pq ORDER BY id;
DROP TABLE pq;
DROP TABLE kv, job, part;

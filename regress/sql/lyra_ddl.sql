-- Table-level operations on Lyra tables.
CREATE TABLE d (id int, v text) USING lyra;
INSERT INTO d SELECT g, 'v' || g FROM generate_series(1, 100) g;
-- TRUNCATE is transactional
BEGIN;
TRUNCATE d;
SELECT count(*) FROM d;
ROLLBACK;
SELECT count(*) FROM d;
-- truncate of a table created in the same transaction
BEGIN;
CREATE TABLE d2 (id int) USING lyra;
INSERT INTO d2 VALUES (1), (2);
TRUNCATE d2;
INSERT INTO d2 VALUES (3);
SELECT * FROM d2;
COMMIT;
SELECT * FROM d2;
-- CREATE TABLE rolled back leaves no table; DROP rolled back keeps the rows
BEGIN;
CREATE TABLE gone (id int) USING lyra;
INSERT INTO gone VALUES (1);
ROLLBACK;
SELECT to_regclass('gone');
BEGIN;
DROP TABLE d;
ROLLBACK;
SELECT count(*) FROM d;
-- ALTER TABLE: add columns (with and without defaults), drop, rename
ALTER TABLE d ADD COLUMN n int;
ALTER TABLE d ADD COLUMN k text DEFAULT 'dflt';
SELECT * FROM d WHERE id <= 2 ORDER BY id;
INSERT INTO d VALUES (101, 'new', 5, 'given');
ALTER TABLE d DROP COLUMN v;
SELECT * FROM d WHERE id IN (1, 101) ORDER BY id;
ALTER TABLE d RENAME COLUMN n TO num;
UPDATE d SET num = id * 2 WHERE id <= 3;
SELECT * FROM d WHERE id <= 3 ORDER BY id;
-- rewrites: a type change and a volatile default copy every row
ALTER TABLE d ALTER COLUMN num TYPE bigint;
ALTER TABLE d ADD COLUMN r float8 DEFAULT random();
SELECT count(*), count(r), sum(num) FROM d;
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
 WHERE attrelid = 'd'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum;
-- between access methods
ALTER TABLE d SET ACCESS METHOD heap;
SELECT amname, (SELECT count(*) FROM d) FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 'd';
ALTER TABLE d SET ACCESS METHOD lyra;
SELECT amname, (SELECT count(*) FROM d) FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 'd';
-- a table with indexes changes access method with them: btree and hash
-- become lyra_index, GIN lyra_gin (and back: lyra_index a btree, lyra_gin
-- a GIN index); constraints and foreign keys keep working
CREATE TABLE am (id int PRIMARY KEY, code text UNIQUE, k int, doc jsonb) USING heap;
CREATE INDEX am_k ON am (k) WHERE k > 10;
CREATE INDEX am_lower ON am (lower(code));
CREATE INDEX am_h ON am USING hash (k);
CREATE INDEX am_doc ON am USING gin (doc jsonb_path_ops);
CREATE TABLE am_ref (id int PRIMARY KEY, am_id int REFERENCES am ON DELETE CASCADE) USING heap;
INSERT INTO am SELECT g, 'c' || g, g % 50, jsonb_build_object('g', g) FROM generate_series(1, 1000) g;
INSERT INTO am_ref SELECT g, g FROM generate_series(1, 100) g;
SELECT sum(size_bytes) AS before FROM lyra.ranges() \gset
CREATE VIEW am_indexes AS
  SELECT c.relname, a.amname, pg_get_indexdef(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid = 'am'::regclass ORDER BY 1;
BEGIN;
ALTER TABLE am SET ACCESS METHOD lyra;
ROLLBACK;
SELECT * FROM am_indexes;
ALTER TABLE am SET ACCESS METHOD lyra;
SELECT * FROM am_indexes;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM am WHERE id = 5;
SELECT * FROM am WHERE id = 5;
SELECT id FROM am WHERE code = 'c77';
SELECT id FROM am WHERE lower(code) = 'c78';
SELECT count(*) FROM am WHERE k = 20;
SELECT id FROM am WHERE doc @> '{"g": 99}';
RESET enable_seqscan;
INSERT INTO am VALUES (5, 'x', 1, NULL);
INSERT INTO am_ref VALUES (1000, 5000);
DELETE FROM am WHERE id = 3;
SELECT count(*) FROM am_ref;
ALTER TABLE am SET ACCESS METHOD heap;
SELECT * FROM am_indexes;
SET enable_seqscan = off;
SELECT id FROM am WHERE code = 'c77';
SELECT id FROM am WHERE doc @> '{"g": 99}';
RESET enable_seqscan;
-- going back to heap left nothing in the engine (the index entries went)
SELECT abs(sum(size_bytes) - :before) < 1000 AS nothing_left_behind FROM lyra.ranges();
-- an index lyra tables have no kind for is refused before anything changes
CREATE INDEX am_brin ON am USING brin (k);
ALTER TABLE am SET ACCESS METHOD lyra;
SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname IN ('am', 'am_pkey') ORDER BY 1;
CREATE TABLE am_excl (r int4range, EXCLUDE (r WITH =));
ALTER TABLE am_excl SET ACCESS METHOD lyra;
INSERT INTO am_excl VALUES ('[1,2)'), ('[1,2)');
SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 'am_excl_r_excl';
-- a materialized view, a partition
CREATE MATERIALIZED VIEW am_mv USING heap AS SELECT g AS id, g % 7 AS k FROM generate_series(1, 100) g;
CREATE UNIQUE INDEX am_mv_id ON am_mv (id);
ALTER MATERIALIZED VIEW am_mv SET ACCESS METHOD lyra;
REFRESH MATERIALIZED VIEW CONCURRENTLY am_mv;
CREATE TABLE am_pt (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE am_pt1 PARTITION OF am_pt FOR VALUES FROM (0) TO (100) USING heap;
CREATE TABLE am_pt2 PARTITION OF am_pt FOR VALUES FROM (100) TO (200) USING heap;
INSERT INTO am_pt SELECT g, 'v' || g FROM generate_series(0, 199) g;
ALTER TABLE am_pt1 SET ACCESS METHOD lyra;
SELECT c.relname, a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
  WHERE relname LIKE 'am\_mv%' OR relname LIKE 'am\_pt%' ORDER BY 1;
INSERT INTO am_pt VALUES (5, 'dup');
SET enable_seqscan = off;
SELECT * FROM am_pt WHERE id IN (5, 150) ORDER BY id;
SELECT * FROM am_mv WHERE id = 42;
RESET enable_seqscan;
DROP VIEW am_indexes;
DROP MATERIALIZED VIEW am_mv;
DROP TABLE am_ref, am, am_excl, am_pt;
-- CREATE TABLE AS, SELECT INTO
CREATE TABLE d_copy USING lyra AS SELECT id, k FROM d WHERE id <= 10;
SELECT count(*) FROM d_copy;
-- VACUUM, VACUUM FULL and ANALYZE
VACUUM d;
VACUUM FULL d;
SELECT count(*), sum(id) FROM d;
-- CLUSTER: the rows in the index's order (DESC, NULLS LAST) under new row
-- ids, so a scan returns them in that order; the indexes follow them
CREATE TABLE cl (id int PRIMARY KEY, k int, t text) USING lyra;
CREATE INDEX cl_k ON cl (k DESC NULLS LAST, id);
INSERT INTO cl SELECT g, g * 7 % 10, repeat('x', g % 3 * 700) FROM generate_series(1, 600) g;
INSERT INTO cl VALUES (601, NULL, 'no k');
UPDATE cl SET t = t || '!' WHERE id % 10 = 0;
DELETE FROM cl WHERE id % 17 = 0;
SELECT count(*), sum(id), sum(length(t)) FROM cl;
CLUSTER cl USING cl_k;
SELECT count(*), sum(id), sum(length(t)) FROM cl;
SELECT ctid, id, k FROM cl LIMIT 3;
SELECT ctid, id, k FROM cl ORDER BY ctid DESC LIMIT 2;
SELECT count(*) AS out_of_order FROM (
  SELECT k, id, lag(k) OVER w AS pk, lag(id) OVER w AS pid FROM cl WINDOW w AS (ORDER BY ctid)) s
  WHERE pk IS NOT NULL AND (k > pk OR (k = pk AND id < pid) OR (pk IS NULL AND k IS NOT NULL));
SET enable_seqscan = off;
SELECT id, k, length(t) FROM cl WHERE id = 590;
SELECT count(*) FROM cl WHERE k = 7;
RESET enable_seqscan;
INSERT INTO cl VALUES (700, 1, 'after');
SELECT ctid, id FROM cl WHERE id = 700;
SELECT indexrelid::regclass FROM pg_index WHERE indisclustered AND indrelid = 'cl'::regclass;
BEGIN;
CLUSTER cl USING cl_pkey;
SELECT ctid, id FROM cl LIMIT 2;
ROLLBACK;
SELECT ctid, id, k FROM cl LIMIT 2;
CLUSTER cl;
CREATE INDEX cl_t ON cl USING gin (to_tsvector('simple', t));
CLUSTER cl USING cl_t;
DROP TABLE cl;
ANALYZE d;
SELECT reltuples FROM pg_class WHERE relname = 'd';
SELECT attname, null_frac, n_distinct FROM pg_stats WHERE tablename = 'd' AND attname IN ('id', 'k') ORDER BY attname;
-- the planner's row estimate comes from the engine's size and ANALYZE
CREATE FUNCTION estimated_rows(query text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  EXECUTE 'EXPLAIN ' || query INTO line;
  RETURN (regexp_match(line, 'rows=(\d+)'))[1]::int;
END $$;
SELECT estimated_rows('SELECT * FROM d');
-- temporary and unlogged Lyra tables
CREATE TEMP TABLE tmp (a int) USING lyra;
INSERT INTO tmp VALUES (1);
SELECT * FROM tmp;
CREATE UNLOGGED TABLE unl (a int) USING lyra;
INSERT INTO unl VALUES (1);
SELECT * FROM unl;
-- partitions stored in Lyra
CREATE TABLE parted (id int, region text) PARTITION BY LIST (region);
CREATE TABLE parted_eu PARTITION OF parted FOR VALUES IN ('eu') USING lyra;
CREATE TABLE parted_us PARTITION OF parted FOR VALUES IN ('us') USING lyra;
INSERT INTO parted VALUES (1, 'eu'), (2, 'us'), (3, 'eu');
UPDATE parted SET region = 'us' WHERE id = 1;   -- moves the row between partitions
SELECT tableoid::regclass, * FROM parted ORDER BY id;
-- inheritance, views, joins with heap
CREATE TABLE h (id int, label text);
INSERT INTO h VALUES (1, 'one'), (2, 'two');
CREATE VIEW dv AS SELECT d.id, h.label FROM d JOIN h USING (id);
SELECT * FROM dv ORDER BY id;
-- DROP SCHEMA CASCADE drops Lyra tables in it
CREATE SCHEMA s;
CREATE TABLE s.t (a int) USING lyra;
INSERT INTO s.t VALUES (1);
DROP SCHEMA s CASCADE;
-- tables with no columns
CREATE TABLE nocols () USING lyra;
INSERT INTO nocols DEFAULT VALUES;
INSERT INTO nocols DEFAULT VALUES;
SELECT count(*) FROM nocols;
DROP VIEW dv;
DROP TABLE d, d2, d_copy, tmp, unl, parted, h, nocols;
DROP FUNCTION estimated_rows(text);
-- ON COMMIT DELETE ROWS: Postgres truncates after Lyra's commit; the
-- truncate (rows and index entries) commits on its own, as on heap
CREATE TEMP TABLE tt (a int PRIMARY KEY, b text) USING lyra ON COMMIT DELETE ROWS;
INSERT INTO tt VALUES (1, 'x'), (2, 'y');
SELECT * FROM tt;
BEGIN;
INSERT INTO tt VALUES (3, 'z');
SELECT * FROM tt;
COMMIT;
SELECT * FROM tt;
INSERT INTO tt VALUES (3, 'again');
BEGIN;
INSERT INTO tt VALUES (1, 'one');
INSERT INTO tt VALUES (1, 'dup');
COMMIT;
SELECT * FROM tt;
CREATE TEMP TABLE td (a int) USING lyra ON COMMIT DROP;
BEGIN;
CREATE TEMP TABLE td2 (a int) USING lyra ON COMMIT DROP;
INSERT INTO td2 VALUES (1);
SELECT * FROM td2;
COMMIT;

-- REFRESH MATERIALIZED VIEW CONCURRENTLY with a unique lyra_index on the view
CREATE TABLE mv_src (id int PRIMARY KEY, type text NOT NULL, amt numeric NOT NULL) USING lyra;
INSERT INTO mv_src VALUES (1, 'x', 2), (2, 'x', 3), (3, 'y', 5), (4, 'z', 11);
CREATE MATERIALIZED VIEW mv_tot USING lyra AS SELECT type, sum(amt) AS tot FROM mv_src GROUP BY type;
CREATE UNIQUE INDEX mv_tot_type ON mv_tot (type);
INSERT INTO mv_src VALUES (5, 'z', 13), (6, 'w', 1);
DELETE FROM mv_src WHERE type = 'y';
REFRESH MATERIALIZED VIEW CONCURRENTLY mv_tot;
SELECT * FROM mv_tot ORDER BY type;
SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'mv_tot_type';
DROP TABLE mv_src CASCADE;
-- The view's query drops its unique index during the refresh: the drop
-- goes through (the refresh lends the index as a btree, but not while the
-- view's query runs), and the refresh finds no unique index, as on heap.
-- A drop rolled back (an EXCEPTION block) leaves the refresh working.
CREATE FUNCTION mv_drop_index(undo bool) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
  IF undo IS NULL THEN RETURN true; END IF;
  BEGIN
    EXECUTE 'DROP INDEX IF EXISTS mv_drop_i';
    IF undo THEN RAISE EXCEPTION 'undo'; END IF;
  EXCEPTION WHEN raise_exception THEN NULL;
  END;
  RETURN true;
END $$;
CREATE TABLE mv_undo (undo bool) USING lyra;
INSERT INTO mv_undo VALUES (NULL);
CREATE MATERIALIZED VIEW mv_drop USING lyra AS SELECT 1 AS i FROM mv_undo WHERE mv_drop_index(undo);
CREATE UNIQUE INDEX mv_drop_i ON mv_drop (i);
UPDATE mv_undo SET undo = false;
REFRESH MATERIALIZED VIEW CONCURRENTLY mv_drop;
UPDATE mv_undo SET undo = true;
REFRESH MATERIALIZED VIEW CONCURRENTLY mv_drop;
UPDATE mv_undo SET undo = NULL;
REFRESH MATERIALIZED VIEW CONCURRENTLY mv_drop;
SELECT * FROM mv_drop WHERE i = 1;
DROP TABLE mv_undo CASCADE;
DROP FUNCTION mv_drop_index;

-- Whole databases. CREATE DATABASE copies files, and a Lyra table's rows
-- are not in its file: a template holding Lyra tables is refused (the
-- copies named storage the engine did not have). DROP DATABASE removes
-- the database's Lyra rows (they stayed in the engine for good); ALTER
-- DATABASE SET TABLESPACE moves its tables' storage mappings with the
-- files (its tables had no storage any more).
SELECT current_database() AS home \gset
SELECT sum(size_bytes) AS before FROM lyra.ranges() \gset
CREATE DATABASE lyra_db_src;
\c lyra_db_src
CREATE EXTENSION lyra;
CREATE TABLE big (a int PRIMARY KEY, b text) USING lyra;
INSERT INTO big SELECT g, repeat('y', 50) FROM generate_series(1, 20000) g;
\c :home
SELECT sum(size_bytes) - :before > 1000000 AS the_rows_take_over_1mb FROM lyra.ranges();
CREATE DATABASE lyra_db_copy TEMPLATE lyra_db_src;
SET allow_in_place_tablespaces = true;
CREATE TABLESPACE regress_lyra_db_ts LOCATION '';
ALTER DATABASE lyra_db_src SET TABLESPACE regress_lyra_db_ts;
\c lyra_db_src
SELECT count(*), sum(a) FROM big;
INSERT INTO big VALUES (0, 'z');
SELECT * FROM big WHERE a IN (0, 77) ORDER BY a;
\c :home
ALTER DATABASE lyra_db_src SET TABLESPACE pg_default;
DROP TABLESPACE regress_lyra_db_ts;
RESET allow_in_place_tablespaces;
\c lyra_db_src
SELECT count(*) FROM big WHERE a < 10;
\c :home
DROP DATABASE lyra_db_src;
SELECT abs(sum(size_bytes) - :before) < 10000 AS its_rows_are_gone FROM lyra.ranges();

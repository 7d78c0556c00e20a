-- Indexes on Lyra tables: lyra_index without asking, unique constraints,
-- index scans, entries kept in step with rows.
CREATE TABLE acc (id int PRIMARY KEY, name text UNIQUE, bal int) USING lyra;
\d acc
INSERT INTO acc SELECT g, 'n' || g, g * 10 FROM generate_series(1, 1000) g;
-- uniqueness, on insert and on update
INSERT INTO acc VALUES (5, 'dup', 0);
INSERT INTO acc VALUES (1001, 'n5', 0);
UPDATE acc SET name = 'n6' WHERE id = 7;
INSERT INTO acc VALUES (1001, NULL, 0), (1002, NULL, 0);
-- a user who may not read the key's columns is not shown the key (as on
-- heap: no DETAIL); with SELECT on them, it is
CREATE ROLE acc_writer;
GRANT INSERT, UPDATE (name) ON acc TO acc_writer;
SET ROLE acc_writer;
INSERT INTO acc VALUES (5, 'hidden', 0);
UPDATE acc SET name = 'same';
RESET ROLE;
GRANT SELECT (id) ON acc TO acc_writer;
SET ROLE acc_writer;
INSERT INTO acc VALUES (5, 'hidden', 0);
RESET ROLE;
REVOKE ALL ON acc FROM acc_writer;
DROP ROLE acc_writer;
-- point and range lookups go through the index
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM acc WHERE id = 42;
SELECT * FROM acc WHERE id = 42;
SELECT * FROM acc WHERE id = 42::bigint;
SELECT * FROM acc WHERE name = 'n77';
EXPLAIN (COSTS OFF) SELECT count(*) FROM acc WHERE id BETWEEN 10 AND 19;
SELECT count(*) FROM acc WHERE id BETWEEN 10 AND 19;
SELECT count(*) FROM acc WHERE id > 995;
SELECT count(*) FROM acc WHERE id < 3;
SELECT count(*) FROM acc WHERE id = NULL::int;
-- updates and deletes move and remove entries
UPDATE acc SET bal = bal + 1 WHERE id = 42;
SELECT * FROM acc WHERE id = 42;
UPDATE acc SET id = 2000 WHERE id = 43;
SELECT * FROM acc WHERE id IN (43, 2000) ORDER BY id;
SELECT * FROM acc WHERE id = 43;
SELECT * FROM acc WHERE id = 2000;
DELETE FROM acc WHERE id = 44;
SELECT * FROM acc WHERE id = 44;
INSERT INTO acc VALUES (44, 'n44', 1);
SELECT * FROM acc WHERE id = 44;
-- a key freed and taken again in one transaction; a rolled-back insert
BEGIN;
DELETE FROM acc WHERE id = 45;
INSERT INTO acc VALUES (45, 'again', 0);
SELECT * FROM acc WHERE id = 45;
COMMIT;
SELECT * FROM acc WHERE id = 45;
BEGIN;
INSERT INTO acc VALUES (3000, 'gone', 0);
SELECT * FROM acc WHERE id = 3000;
ROLLBACK;
SELECT * FROM acc WHERE id = 3000;
INSERT INTO acc VALUES (3000, 'gone', 0);
-- savepoints
BEGIN;
SAVEPOINT s;
INSERT INTO acc VALUES (3001, 'sp', 0);
ROLLBACK TO s;
INSERT INTO acc VALUES (3001, 'sp2', 0);
COMMIT;
SELECT * FROM acc WHERE id = 3001;
-- plain, multi-column, expression and partial indexes on a populated table
CREATE INDEX acc_bal ON acc (bal);
CREATE INDEX acc_bal_name ON acc (bal, name);
CREATE INDEX acc_lower ON acc (lower(name));
CREATE INDEX acc_rich ON acc (id) WHERE bal > 9000;
SELECT id FROM acc WHERE bal = 500;
SELECT id FROM acc WHERE bal = 500 AND name = 'n50';
SELECT id FROM acc WHERE lower(name) = 'n51';
SELECT id FROM acc WHERE bal > 9000 AND id > 995 ORDER BY id;
UPDATE acc SET name = 'N52' WHERE id = 52;
SELECT id FROM acc WHERE lower(name) = 'n52';
UPDATE acc SET bal = 9999 WHERE id = 53;
SELECT id FROM acc WHERE bal > 9000 AND id = 53;
-- other types
CREATE TABLE kinds (f float8, t timestamptz, u uuid, b bool, c char(4), d date) USING lyra;
CREATE INDEX ON kinds (f);
CREATE INDEX ON kinds (t);
CREATE UNIQUE INDEX ON kinds (u);
CREATE INDEX ON kinds (c, b);
CREATE INDEX ON kinds (d);
INSERT INTO kinds VALUES (-0.0, '2024-01-01 00:00+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true, 'ab', '2024-01-01'),
                         ('NaN', '2024-06-01 12:00+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', false, 'cd  ', '2024-06-01');
SELECT f FROM kinds WHERE f = 0;
SELECT f FROM kinds WHERE f = 'NaN';
SELECT f FROM kinds WHERE f > 1e300;
SELECT d FROM kinds WHERE t > '2024-03-01';
SELECT b FROM kinds WHERE c = 'cd' AND b = false;
SELECT d FROM kinds WHERE d < '2024-03-01';
INSERT INTO kinds (u) VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
RESET enable_seqscan;
-- ordered scans: forward, backward (DESC, max), merged with this
-- transaction's own entries, and turning around in a scrollable cursor
CREATE TABLE ord (k int PRIMARY KEY, name text COLLATE "C", label text COLLATE "und-x-icu", v int) USING lyra;
CREATE INDEX ord_name ON ord (name);
CREATE INDEX ord_label ON ord (label);
CREATE INDEX ord_v_desc ON ord (v DESC);
INSERT INTO ord SELECT g, 'n' || g, 'l' || g, g % 7 FROM generate_series(1, 300) g;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT k FROM ord ORDER BY k LIMIT 3;
SELECT k FROM ord ORDER BY k LIMIT 3;
EXPLAIN (COSTS OFF) SELECT k FROM ord ORDER BY k DESC LIMIT 3;
SELECT k FROM ord ORDER BY k DESC LIMIT 3;
SELECT k FROM ord WHERE k BETWEEN 100 AND 200 ORDER BY k DESC LIMIT 2;
EXPLAIN (COSTS OFF) SELECT max(k), min(k) FROM ord;
SELECT max(k), min(k) FROM ord;
SELECT name FROM ord WHERE name > 'n298' ORDER BY name LIMIT 3;
-- a count needs no column: an index-only scan (rows still fetched)
EXPLAIN (COSTS OFF) SELECT count(*) FROM ord;
SELECT count(*) FROM ord;
-- text under an ICU collation is keyed by the collation's sort key: the
-- index gives the collation's order (compared with heap's sort below)
EXPLAIN (COSTS OFF) SELECT label FROM ord ORDER BY label LIMIT 1;
CREATE TABLE words_heap (w text COLLATE "de-x-icu", d text COLLATE "und-x-icu") USING heap;
INSERT INTO words_heap SELECT w, w FROM unnest(ARRAY['apfel', 'Apfel', 'Äpfel', 'äpfel', 'Zebra', 'zebra', 'ähnlich',
  'Ahorn', 'a', 'A', '', ' ', 'ß', 'ss', 'SS', 'Straße', 'Strasse', 'é', 'e', 'E', 'ê', '10', '9', '-1', 'ǅ', 'ﬁ', 'fi',
  'a b', 'ab', 'a-b', 'Œuvre', 'oeuvre', '日本', '中文', 'ümlaut', 'ue', 'uf', NULL]) w;
CREATE TABLE words (LIKE words_heap) USING lyra;
INSERT INTO words SELECT * FROM words_heap;
CREATE INDEX words_w ON words (w);
CREATE INDEX words_d ON words (d DESC);
EXPLAIN (COSTS OFF) SELECT w FROM words ORDER BY w;
SELECT (SELECT array_agg(w ORDER BY w) FROM words_heap) = (SELECT array_agg(w) FROM (SELECT w FROM words ORDER BY w) s) AS same_order,
       (SELECT array_agg(d ORDER BY d DESC) FROM words_heap) = (SELECT array_agg(d) FROM (SELECT d FROM words ORDER BY d DESC) s) AS same_desc;
SELECT b, (SELECT array_agg(w ORDER BY w) FROM words_heap WHERE w >= b AND w < 'f')
        IS NOT DISTINCT FROM (SELECT array_agg(w) FROM (SELECT w FROM words WHERE w >= b AND w < 'f' ORDER BY w) s) AS same_range,
       (SELECT count(*) FROM words_heap WHERE w = b) = (SELECT count(*) FROM words WHERE w = b) AS same_equal
FROM unnest(ARRAY['a', 'Äpfel', 'ä', 'SS', 'Straße', '', 'ähnlich', '9']) b;
DROP TABLE words, words_heap;
-- a DESC column's entries are ascending, nulls last, and the planner knows:
-- ORDER BY v DESC (nulls first) reads backward, ORDER BY v forward, and an
-- order neither direction gives sorts
EXPLAIN (COSTS OFF) SELECT v FROM ord ORDER BY v DESC LIMIT 1;
EXPLAIN (COSTS OFF) SELECT v FROM ord ORDER BY v LIMIT 1;
EXPLAIN (COSTS OFF) SELECT v FROM ord ORDER BY v DESC NULLS LAST LIMIT 1;
-- every order of two columns with NULLs, through indexes declared each way,
-- gives heap's rows in heap's order
CREATE TABLE dirs (a int, b int) USING lyra;
CREATE TABLE dirs_heap (a int, b int) USING heap;
INSERT INTO dirs SELECT nullif(g % 5, 4), nullif(g % 3, 2) FROM generate_series(1, 40) g;
INSERT INTO dirs_heap SELECT * FROM dirs;
CREATE INDEX dirs_ad_b ON dirs (a DESC, b);
CREATE INDEX dirs_anf_bdnl ON dirs (a NULLS FIRST, b DESC NULLS LAST);
CREATE FUNCTION order_differs(o text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE lyra int[]; heap int[];
BEGIN
  EXECUTE format('SELECT array_agg(coalesce(a, -1) * 10 + coalesce(b, -1)) FROM (SELECT a, b FROM dirs ORDER BY %s) s', o) INTO lyra;
  EXECUTE format('SELECT array_agg(coalesce(a, -1) * 10 + coalesce(b, -1)) FROM (SELECT a, b FROM dirs_heap ORDER BY %s) s', o) INTO heap;
  RETURN lyra IS DISTINCT FROM heap;
END $$;
SELECT o, order_differs(o) FROM unnest(ARRAY[
  'a, b', 'a DESC, b DESC', 'a DESC, b', 'a, b DESC', 'a NULLS FIRST, b',
  'a DESC NULLS LAST, b DESC NULLS LAST', 'a DESC NULLS LAST, b DESC',
  'a NULLS FIRST, b DESC NULLS LAST', 'a DESC, b NULLS FIRST']) o;
EXPLAIN (COSTS OFF) SELECT a, b FROM dirs ORDER BY a DESC, b DESC;
EXPLAIN (COSTS OFF) SELECT a, b FROM dirs ORDER BY a DESC, b;
DROP FUNCTION order_differs;
DROP TABLE dirs, dirs_heap;
BEGIN;
INSERT INTO ord VALUES (0, 'n0', 'l0', 0), (1000, 'n1000', 'l1000', 0);
DELETE FROM ord WHERE k = 300;
SELECT k FROM ord ORDER BY k LIMIT 2;
SELECT k FROM ord ORDER BY k DESC LIMIT 2;
-- a key this transaction moved: read backward, its old entry (deleted
-- here, still committed on the node) must not bring the row back
UPDATE ord SET k = 2000 WHERE k = 299;
SELECT k FROM ord ORDER BY k DESC LIMIT 3;
SELECT k FROM ord WHERE k > 290 ORDER BY k DESC;
-- an empty range (its bounds crossed) over this transaction's writes
SELECT k FROM ord WHERE k BETWEEN 12 AND 4;
SELECT k FROM ord WHERE k BETWEEN 12 AND 4 ORDER BY k DESC;
DECLARE c SCROLL CURSOR FOR SELECT k FROM ord WHERE k < 5 ORDER BY k;
FETCH 3 FROM c;
FETCH BACKWARD 2 FROM c;
FETCH FORWARD 10 FROM c;
FETCH BACKWARD 1 FROM c;
COMMIT;
RESET enable_seqscan;
DROP TABLE ord;
-- a partitioned table with Lyra partitions: the partitions' copies of
-- the parent's indexes (and those of CREATE TABLE ... LIKE) are lyra_index
CREATE TABLE pt (k int PRIMARY KEY, v text) PARTITION BY RANGE (k);
CREATE TABLE pt_1 PARTITION OF pt FOR VALUES FROM (0) TO (100) USING lyra;
CREATE INDEX ON pt (v);
CREATE TABLE pt_2 PARTITION OF pt FOR VALUES FROM (100) TO (200) USING lyra;
SELECT c.relname, a.amname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_am a ON a.oid = c.relam WHERE i.indrelid IN ('pt_1'::regclass, 'pt_2'::regclass) ORDER BY 1;
INSERT INTO pt VALUES (1, 'a'), (150, 'b');
INSERT INTO pt VALUES (150, 'dup');
SET enable_seqscan = off;
SELECT * FROM pt WHERE v = 'b';
RESET enable_seqscan;
CREATE TABLE pt_copy (LIKE pt_1 INCLUDING INDEXES) USING lyra;
\d pt_copy
DROP TABLE pt, pt_copy;
-- not supported: other access methods, types without an encoding (bit strings)
CREATE INDEX ON acc USING brin (bal);
-- a hash index becomes a lyra_index (it serves the same equality lookups)
CREATE INDEX acc_bal_hash ON acc USING hash (bal);
SET enable_seqscan = off;
SELECT id FROM acc WHERE bal = 500;
RESET enable_seqscan;
DROP INDEX acc_bal_hash;
CREATE TABLE num (r tsvector) USING lyra;
CREATE INDEX ON num (r);
-- ALTER TABLE ... ADD PRIMARY KEY / UNIQUE checks existing rows
CREATE TABLE later (a int, b text) USING lyra;
INSERT INTO later VALUES (1, 'x'), (1, 'y'), (NULL, 'z');
ALTER TABLE later ADD PRIMARY KEY (a);
DELETE FROM later WHERE b = 'y';
ALTER TABLE later ADD CONSTRAINT later_b UNIQUE (b);
\d later
-- CONCURRENTLY builds run as plain ones; REINDEX rebuilds from the rows
CREATE INDEX CONCURRENTLY acc_bal2 ON acc (bal);
REINDEX INDEX CONCURRENTLY acc_bal2;
REINDEX TABLE acc;
SET enable_seqscan = off;
SELECT id FROM acc WHERE bal = 500;
SELECT id, name FROM acc WHERE name = 'n77';
RESET enable_seqscan;
DROP INDEX CONCURRENTLY acc_bal2;
-- ... but where Postgres refuses CONCURRENTLY, so does Lyra: inside a
-- transaction block or a function
BEGIN;
CREATE INDEX CONCURRENTLY acc_bal3 ON acc (bal);
ROLLBACK;
BEGIN;
REINDEX TABLE CONCURRENTLY acc;
ROLLBACK;
CREATE FUNCTION make_index_concurrently() RETURNS void LANGUAGE plpgsql
  AS $$ BEGIN CREATE INDEX CONCURRENTLY acc_bal3 ON acc (bal); END $$;
SELECT make_index_concurrently();
DROP FUNCTION make_index_concurrently;
-- what a hash index cannot be is refused before it becomes a lyra_index;
-- rtree is Postgres's old name for gist
CREATE UNIQUE INDEX acc_h ON acc USING hash (id);
CREATE INDEX acc_h ON acc USING hash (id) INCLUDE (bal);
CREATE INDEX acc_h ON acc USING hash (id, bal);
CREATE INDEX acc_r ON acc USING rtree (id);
-- REINDEX ... CONCURRENTLY reaching Lyra tables through a partitioned
-- table or index, or a schema, runs as a plain REINDEX too
CREATE SCHEMA reidx;
CREATE TABLE reidx.parts (k int, v text) PARTITION BY RANGE (k);
CREATE TABLE reidx.parts_1 PARTITION OF reidx.parts FOR VALUES FROM (0) TO (100) USING lyra;
CREATE TABLE reidx.parts_2 PARTITION OF reidx.parts FOR VALUES FROM (100) TO (200) USING heap;
CREATE INDEX parts_k ON reidx.parts (k);
INSERT INTO reidx.parts SELECT g, 'v' || g FROM generate_series(0, 199) g;
REINDEX INDEX CONCURRENTLY reidx.parts_k;
REINDEX TABLE CONCURRENTLY reidx.parts;
REINDEX SCHEMA CONCURRENTLY reidx;
SET enable_seqscan = off;
SELECT k, v FROM reidx.parts WHERE k IN (7, 107) ORDER BY k;
RESET enable_seqscan;
SELECT c.relname, a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
  WHERE c.relname LIKE 'parts%k%' ORDER BY 1;
-- a schema of heap tables alone: concurrently, without a word
CREATE SCHEMA heapidx;
CREATE TABLE heapidx.h (k int PRIMARY KEY) USING heap;
REINDEX SCHEMA CONCURRENTLY heapidx;
DROP SCHEMA reidx, heapidx CASCADE;
-- REINDEX builds a new engine index: the old one's entries go at commit
-- (before, each REINDEX left a generation of entries behind); not when
-- the REINDEX rolls back. lyra.ranges() counts the stored bytes.
CREATE TABLE regen (k int PRIMARY KEY, tags int[]) USING lyra;
INSERT INTO regen SELECT g, ARRAY[g % 10, g] FROM generate_series(1, 5000) g;
SELECT sum(size_bytes) AS before_index FROM lyra.ranges() \gset
CREATE INDEX regen_tags ON regen USING gin (tags);
SELECT sum(size_bytes) AS before FROM lyra.ranges() \gset
SELECT :before - :before_index > 100000 AS a_generation_is_over_100kb;
REINDEX INDEX regen_pkey;
REINDEX TABLE regen;
REINDEX SCHEMA public;
BEGIN;
SAVEPOINT s;
REINDEX TABLE regen;
ROLLBACK TO s;
REINDEX INDEX regen_tags;
COMMIT;
BEGIN;
REINDEX TABLE regen;
ROLLBACK;
SELECT abs(sum(size_bytes) - :before) < 10000 AS old_entries_reclaimed FROM lyra.ranges();
SET enable_seqscan = off;
SELECT k FROM regen WHERE k = 4321;
SELECT count(*) FROM regen WHERE tags @> ARRAY[7];
RESET enable_seqscan;
DROP TABLE regen;
-- SET TABLESPACE copies an index's storage, which for Lyra is empty: the
-- new relfilenode names the same entries (it named none, and every later
-- statement on the table failed with "has no storage mapping")
SET allow_in_place_tablespaces = true;
CREATE TABLESPACE regress_lyra_ts LOCATION '';
CREATE TABLE moved (k int PRIMARY KEY, v text) USING lyra;
CREATE INDEX moved_v ON moved (v);
INSERT INTO moved SELECT g, 'v' || g FROM generate_series(1, 100) g;
ALTER INDEX moved_pkey SET TABLESPACE regress_lyra_ts;
ALTER TABLE moved SET TABLESPACE regress_lyra_ts;
BEGIN;
ALTER INDEX moved_v SET TABLESPACE regress_lyra_ts;
ROLLBACK;
INSERT INTO moved VALUES (101, 'v101');
SET enable_seqscan = off;
SELECT * FROM moved WHERE k IN (7, 101) ORDER BY k;
SELECT * FROM moved WHERE v = 'v42';
ALTER INDEX ALL IN TABLESPACE regress_lyra_ts SET TABLESPACE pg_default;
REINDEX (TABLESPACE regress_lyra_ts) INDEX moved_v;
SELECT c.relname, t.spcname FROM pg_class c LEFT JOIN pg_tablespace t ON t.oid = c.reltablespace
  WHERE c.relname LIKE 'moved%' ORDER BY 1;
INSERT INTO moved VALUES (102, 'v102');
SELECT * FROM moved WHERE k = 102;
SELECT * FROM moved WHERE v IN ('v42', 'v102') ORDER BY k;
RESET enable_seqscan;
-- rewrites take the old entries with the table's old rows
SELECT sum(size_bytes) AS before FROM lyra.ranges() \gset
VACUUM FULL moved;
CLUSTER moved USING moved_pkey;
ALTER TABLE moved SET TABLESPACE pg_default;
SELECT abs(sum(size_bytes) - :before) < 1000 AS nothing_left_behind FROM lyra.ranges();
DROP TABLE moved;
DROP TABLESPACE regress_lyra_ts;
RESET allow_in_place_tablespaces;
-- DROP INDEX, TRUNCATE, DROP TABLE
DROP INDEX acc_bal;
SELECT count(*) FROM acc WHERE bal = 500;
TRUNCATE acc;
SELECT * FROM acc WHERE id = 42;
INSERT INTO acc VALUES (42, 'x', 1);
SELECT * FROM acc WHERE id = 42;
DROP TABLE acc, kinds, num, later;
-- ALTER TABLE … ADD PRIMARY KEY / UNIQUE USING INDEX on a lyra_index (for
-- Postgres's check, the index passes as a btree for that statement only)
CREATE TABLE ui (a int, b text, c int) USING lyra;
INSERT INTO ui VALUES (1, 'x', 1), (2, 'y', 2), (3, 'z', NULL);
CREATE UNIQUE INDEX ui_a ON ui (a);
ALTER TABLE ui ADD CONSTRAINT ui_pk PRIMARY KEY USING INDEX ui_a;
CREATE UNIQUE INDEX ui_c ON ui (c);
ALTER TABLE ui ADD PRIMARY KEY USING INDEX ui_c;
ALTER TABLE ui ADD UNIQUE USING INDEX ui_c;
\d ui
CREATE UNIQUE INDEX ui_b_desc ON ui (b DESC);
ALTER TABLE ui ADD UNIQUE USING INDEX ui_b_desc;
-- the failed statement left the index a lyra_index in this backend too
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM ui WHERE b = 'x';
SELECT * FROM ui WHERE b = 'x';
RESET enable_seqscan;
CREATE INDEX ui_b ON ui (b);
ALTER TABLE ui ADD UNIQUE USING INDEX ui_b;
DROP INDEX ui_b, ui_b_desc;
INSERT INTO ui VALUES (1, 'w', 5);
CREATE TABLE ui_ref (a int REFERENCES ui) USING lyra;
INSERT INTO ui_ref VALUES (1);
INSERT INTO ui_ref VALUES (4);
-- a statement that fails after the check (a NULL where the primary key
-- needs NOT NULL) leaves the index a lyra_index
CREATE TABLE ui2 (a int) USING lyra;
INSERT INTO ui2 VALUES (1), (NULL);
CREATE UNIQUE INDEX ui2_a ON ui2 (a);
BEGIN;
SAVEPOINT s;
ALTER TABLE ui2 ADD PRIMARY KEY USING INDEX ui2_a;
ROLLBACK TO s;
SET LOCAL enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM ui2 WHERE a = 1;
SELECT * FROM ui2 WHERE a = 1;
COMMIT;
DROP TABLE ui_ref, ui, ui2;
-- a statement that uses the index and rebuilds it (ALTER COLUMN … TYPE of
-- its column) is refused with a hint; as two statements both work
CREATE TABLE ui3 (f1 int) USING lyra;
INSERT INTO ui3 VALUES (42), (43);
CREATE UNIQUE INDEX ui3_f1 ON ui3 (f1);
ALTER TABLE ui3 ADD PRIMARY KEY USING INDEX ui3_f1, ALTER f1 TYPE bigint;
ALTER TABLE ui3 ALTER f1 TYPE bigint;
ALTER TABLE ui3 ADD PRIMARY KEY USING INDEX ui3_f1;
\d ui3
INSERT INTO ui3 VALUES (42);
DROP TABLE ui3;
-- attaching Lyra tables and their indexes to a partitioned table's btree
-- indexes: each partition index that matches is attached, none made twice
CREATE TABLE pp (id int, v text, PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE pp1 (id int PRIMARY KEY, v text) USING lyra;
ALTER TABLE pp ATTACH PARTITION pp1 FOR VALUES FROM (0) TO (100);
CREATE TABLE pp2 (id int NOT NULL, v text) USING lyra;
CREATE UNIQUE INDEX pp2_id ON pp2 (id);
CREATE INDEX pp2_v ON pp2 (v);
ALTER TABLE pp ATTACH PARTITION pp2 FOR VALUES FROM (100) TO (200);
CREATE INDEX pp_v ON pp (v);
CREATE TABLE pp3 (id int NOT NULL, v text) USING lyra;
CREATE INDEX pp3_v ON pp3 (v);
CREATE INDEX pp3_v2 ON pp3 (v);
ALTER TABLE pp ATTACH PARTITION pp3 FOR VALUES FROM (200) TO (300);
CREATE INDEX pp_id_v ON ONLY pp (id, v);
CREATE INDEX pp1_id_v ON pp1 (id, v);
ALTER INDEX pp_id_v ATTACH PARTITION pp1_id_v;
SELECT c.relname, a.amname, i.inhparent::regclass AS parent
  FROM pg_class c JOIN pg_am a ON a.oid = c.relam LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
 WHERE c.relname LIKE 'pp%' AND c.relkind IN ('i', 'I') ORDER BY 1;
INSERT INTO pp VALUES (1, 'a'), (150, 'b'), (250, 'c');
INSERT INTO pp VALUES (150, 'dup');
DROP TABLE pp;
-- ATTACH PARTITION validates a self-referencing foreign key with queries
-- planned while the partition's indexes are lent (the planner sees them
-- as lyra_index again)
CREATE TABLE psf (id bigint PRIMARY KEY, ref bigint REFERENCES psf (id)) PARTITION BY RANGE (id);
CREATE TABLE psf1 (id bigint PRIMARY KEY, ref bigint) USING lyra;
INSERT INTO psf1 VALUES (1, NULL), (2, 1);
ALTER TABLE psf ATTACH PARTITION psf1 FOR VALUES FROM (0) TO (10);
INSERT INTO psf VALUES (3, 9);
INSERT INTO psf VALUES (3, 2);
SELECT * FROM psf ORDER BY id;
DROP TABLE psf;
-- a partitioned table's primary key added after its partition's: the
-- partition's is attached (not a second one), and foreign keys find it
CREATE TABLE pkp (a int) PARTITION BY LIST (a);
CREATE TABLE pkp1 PARTITION OF pkp FOR VALUES IN (1) USING lyra;
ALTER TABLE pkp1 ADD PRIMARY KEY (a);
ALTER TABLE pkp ADD PRIMARY KEY (a);
CREATE TABLE pkp_fk (a int REFERENCES pkp) USING lyra;
INSERT INTO pkp VALUES (1);
INSERT INTO pkp_fk VALUES (1);
INSERT INTO pkp_fk VALUES (2);
DROP TABLE pkp_fk, pkp;
-- DEFERRABLE unique constraints: checked at COMMIT (or SET CONSTRAINTS
-- IMMEDIATE); an UPDATE that keeps the key still has the row checked;
-- a unique index build on duplicates fails as for an immediate one
CREATE TABLE ut (i int UNIQUE DEFERRABLE INITIALLY DEFERRED, t text) USING lyra;
INSERT INTO ut VALUES (3, 'three');
BEGIN;
INSERT INTO ut VALUES (3, 'Three');
COMMIT;
BEGIN;
INSERT INTO ut VALUES (3, 'Three');
UPDATE ut SET t = 'THREE' WHERE i = 3 AND t = 'Three';
COMMIT;
SELECT * FROM ut ORDER BY t;
BEGIN;
UPDATE ut SET i = 4 WHERE t = 'three';
UPDATE ut SET i = 3 WHERE t = 'three';
COMMIT;
BEGIN;
SET CONSTRAINTS ALL DEFERRED;
UPDATE ut SET i = i + 1;
INSERT INTO ut VALUES (4, 'x');
COMMIT;
SELECT * FROM ut ORDER BY t;
DROP TABLE ut;
-- a partitioned table's DEFERRABLE unique constraint: each Lyra
-- partition's copy is a lyra_index (Postgres opens the copy, for the
-- constraint's trigger, before Lyra adopts it), created with the
-- partition or when a table is attached; checked at the statement's end,
-- or at COMMIT when deferred
CREATE TABLE put (i int UNIQUE DEFERRABLE, t text) PARTITION BY RANGE (i);
CREATE TABLE put_1 PARTITION OF put FOR VALUES FROM (0) TO (10) USING lyra;
CREATE TABLE put_2 (i int, t text) USING lyra;
ALTER TABLE put ATTACH PARTITION put_2 FOR VALUES FROM (10) TO (20);
SELECT c.relname, a.amname, x.indisunique, con.condeferrable
  FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_am a ON a.oid = c.relam
  LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid
  WHERE x.indrelid IN ('put_1'::regclass, 'put_2'::regclass) ORDER BY 1;
BEGIN;
INSERT INTO put VALUES (1, 'a');
SAVEPOINT s;
INSERT INTO put VALUES (1, 'b');
ROLLBACK TO s;
SET CONSTRAINTS put_i_key DEFERRED;
INSERT INTO put VALUES (1, 'b'), (11, 'c'), (11, 'd');
DELETE FROM put WHERE t = 'b';
UPDATE put SET i = 12 WHERE t = 'd';
COMMIT;
BEGIN;
SET CONSTRAINTS put_i_key DEFERRED;
INSERT INTO put VALUES (12, 'e');
COMMIT;
SELECT * FROM put ORDER BY i;
SELECT * FROM put WHERE i = 12;
DROP TABLE put;
CREATE TABLE ud (i int, t text) USING lyra;
INSERT INTO ud VALUES (1, 'a'), (1, 'b');
ALTER TABLE ud ADD CONSTRAINT ud_i_key UNIQUE (i) DEFERRABLE;
DELETE FROM ud WHERE t = 'b';
ALTER TABLE ud ADD CONSTRAINT ud_i_key UNIQUE (i) DEFERRABLE;
BEGIN;
SET CONSTRAINTS ud_i_key DEFERRED;
INSERT INTO ud VALUES (1, 'c');
SET CONSTRAINTS ud_i_key IMMEDIATE;
ROLLBACK;
BEGIN;
SET CONSTRAINTS ud_i_key DEFERRED;
INSERT INTO ud VALUES (1, 'c'), (2, 'd');
UPDATE ud SET i = 3 WHERE t = 'c';
SET CONSTRAINTS ud_i_key IMMEDIATE;
COMMIT;
SELECT * FROM ud ORDER BY i;
DROP TABLE ud;

-- an UPDATE that leaves every index key as it was, then TRUNCATE: the row
-- ids start again, and the next rows still get their entries
CREATE TABLE kept (id int PRIMARY KEY, v int) USING lyra;
CREATE INDEX kept_v ON kept (v);
INSERT INTO kept VALUES (1, 10);
UPDATE kept SET v = 10 WHERE id = 1;
TRUNCATE kept;
INSERT INTO kept VALUES (2, 20);
INSERT INTO kept VALUES (2, 30);
SET enable_seqscan = off;
SELECT * FROM kept WHERE id = 2;
SELECT * FROM kept WHERE v = 20;
RESET enable_seqscan;
DROP TABLE kept;

-- unique entries are claimed on the node a statement at a time: a
-- duplicate still fails the statement with 23505 naming its key, across
-- claim requests (1,024 a request), and leaves nothing of the statement
CREATE TABLE claims (id int PRIMARY KEY, u int UNIQUE, v text) USING lyra;
INSERT INTO claims SELECT g, g, 'a' FROM generate_series(1, 3000) g;
INSERT INTO claims SELECT g, g, 'b' FROM generate_series(3001, 6000) g
  UNION ALL SELECT 10, -10, 'dup';
INSERT INTO claims SELECT g, -g, 'b' FROM generate_series(2990, 3010) g;
INSERT INTO claims SELECT g + 10000, g, 'c' FROM generate_series(2500, 2600) g;
SELECT count(*), count(*) FILTER (WHERE v <> 'a') AS others FROM claims;
-- two rows of one statement with one key: refused at the second row
INSERT INTO claims VALUES (7001, 7001, 'x'), (7002, 7001, 'y');
INSERT INTO claims VALUES (7001, 7001, 'x'), (7001, 7002, 'y');
-- COPY
COPY claims FROM stdin;
8001	8001	copy
8002	8002	copy
5	8003	copy
\.
SELECT count(*) FROM claims WHERE id > 8000;
-- a COPY whose claims are made mid-way (line 1,024) names no line: the
-- duplicate is line 2
COPY (SELECT * FROM (VALUES (20001, 20001, 'f'), (5, 20002, 'f')) v
      UNION ALL SELECT g, g, 'f' FROM generate_series(20003, 21100) g) TO '/tmp/lyra_claims.copy';
COPY claims FROM '/tmp/lyra_claims.copy';
SELECT count(*) FROM claims WHERE id > 8000;
-- a data-modifying WITH finishes its inserts after the main query
WITH ins AS (INSERT INTO claims VALUES (9001, 9001, 'w'), (9002, 1, 'w') RETURNING id)
SELECT count(*) FROM ins;
SELECT count(*) FROM claims WHERE id > 9000;
-- rows after the duplicate ran their BEFORE ROW triggers: the statement
-- fails at its end (their effects roll back with it)
CREATE FUNCTION claims_note() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN RAISE NOTICE 'inserting %', NEW.id; RETURN NEW; END $$;
CREATE TRIGGER claims_note BEFORE INSERT ON claims FOR EACH ROW EXECUTE FUNCTION claims_note();
INSERT INTO claims VALUES (9101, 9101, 't'), (3, 9102, 't'), (9103, 9103, 't');
DROP TRIGGER claims_note ON claims;
-- a statement inside a row's trigger, in a subtransaction that catches
-- unique violations, does not meet (nor catch) the duplicate of the
-- INSERT around it
CREATE FUNCTION claims_probe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    PERFORM count(*) FROM claims WHERE id = NEW.id;
  EXCEPTION WHEN unique_violation THEN
    RAISE NOTICE 'caught the INSERT''s duplicate';
  END;
  RETURN NEW;
END $$;
CREATE TRIGGER claims_probe BEFORE INSERT ON claims FOR EACH ROW EXECUTE FUNCTION claims_probe();
INSERT INTO claims VALUES (9501, 9501, 'q'), (1, 9502, 'q'), (9503, 9503, 'q');
SELECT count(*) FROM claims WHERE v = 'q';
DROP TRIGGER claims_probe ON claims;
DROP FUNCTION claims_probe();
-- a savepoint rolled back takes its claims with it; the rest commits
BEGIN;
INSERT INTO claims SELECT g, g, 's' FROM generate_series(9201, 9300) g;
SAVEPOINT sp;
INSERT INTO claims SELECT g, g, 's' FROM generate_series(9301, 9400) g;
INSERT INTO claims VALUES (9401, 9401, 's'), (9402, 9201, 's');
ROLLBACK TO sp;
INSERT INTO claims SELECT g, g, 's' FROM generate_series(9301, 9350) g;
COMMIT;
SELECT count(*), min(id), max(id) FROM claims WHERE v = 's';
-- PL/pgSQL catching each duplicate in an exception block
DO $$
DECLARE caught int := 0;
BEGIN
  FOR i IN 2995..3005 LOOP
    BEGIN
      INSERT INTO claims VALUES (i, i, 'p');
    EXCEPTION WHEN unique_violation THEN
      caught := caught + 1;
    END;
  END LOOP;
  RAISE NOTICE 'caught % duplicates', caught;
END $$;
SELECT count(*) FROM claims WHERE v = 'p';
-- a key deleted and inserted again in one transaction, and keys moved up
BEGIN;
DELETE FROM claims WHERE id = 100;
INSERT INTO claims VALUES (100, 100, 'again');
COMMIT;
UPDATE claims SET id = id + 100000, u = u + 100000 WHERE v = 'a';
SELECT count(*), min(id) FROM claims WHERE v = 'a';
SELECT * FROM claims WHERE id = 100;
DROP TABLE claims;
DROP FUNCTION claims_note();

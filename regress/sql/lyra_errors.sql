-- What Lyra tables do not support yet fails with a clear error, never a crash.
CREATE TABLE e (id int, v text) USING lyra;
INSERT INTO e VALUES (1, 'one');
CREATE INDEX e_brin ON e USING brin (id);
SELECT * FROM e FOR UPDATE;
SELECT * FROM e FOR SHARE;
BEGIN;
INSERT INTO e VALUES (2, 'two');
PREPARE TRANSACTION 'lyra_px';
SELECT count(*) FROM e;
-- dropping a Lyra index is a write too (its entries go at commit)
CREATE INDEX e_v ON e (v);
BEGIN;
DROP INDEX e_v;
PREPARE TRANSACTION 'lyra_px';
SET enable_seqscan = off;
SELECT id FROM e WHERE v = 'one';
RESET enable_seqscan;
DROP INDEX e_v;
-- a temporary Lyra table: Postgres's own refusal, as for heap
CREATE TEMP TABLE e_temp (a int) USING lyra;
BEGIN;
INSERT INTO e_temp VALUES (1);
PREPARE TRANSACTION 'lyra_px';
DROP TABLE e_temp;
-- a SCROLL cursor goes backward over a Lyra scan too (it once could not)
BEGIN;
INSERT INTO e VALUES (2, 'two'), (3, 'three');
DECLARE sc SCROLL CURSOR FOR SELECT * FROM e;
FETCH 2 FROM sc;
FETCH PRIOR FROM sc;
FETCH PRIOR FROM sc;
FETCH LAST FROM sc;
FETCH BACKWARD ALL FROM sc;
ROLLBACK;
-- TIDs that no Lyra row can have
SELECT * FROM e WHERE ctid = '(0,0)';
SELECT * FROM e WHERE ctid = '(0,292)';
SELECT * FROM e WHERE ctid = '(0,1)';
-- the table is still fine after all of that
INSERT INTO e VALUES (3, 'three');
SELECT * FROM e ORDER BY id;
-- a parallel plan reads a Lyra table in workers too (see lyra_parallel)
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
EXPLAIN (COSTS OFF) SELECT count(*) FROM e;
SELECT count(*) FROM e;
RESET ALL;
DROP TABLE e;

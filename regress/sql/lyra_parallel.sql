-- Parallel sequential scans of Lyra tables: the workers and the leader
-- claim chunks of row ids and read them at the leader's timestamp
-- (pg_ext/src/tam/parallel.rs). Every answer is compared with heap's.
CREATE TABLE par (id int, g int, t text) USING lyra;
CREATE TABLE par_heap (id int, g int, t text) USING heap;
INSERT INTO par SELECT i, i % 7, 'row ' || i FROM generate_series(1, 60000) i;
INSERT INTO par_heap SELECT * FROM par;
DELETE FROM par WHERE id % 1000 = 0;
DELETE FROM par_heap WHERE id % 1000 = 0;
ANALYZE par, par_heap;
-- how many workers a query's Gather launched (EXPLAIN ANALYZE)
CREATE FUNCTION workers_launched(q text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || q LOOP
    IF line ~ 'Workers Launched' THEN RETURN substring(line from '\d+')::int; END IF;
  END LOOP;
  RETURN NULL;
END $$;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT count(*), sum(id) FROM par;
SELECT count(*), sum(id), min(t), max(t) FROM par;
SELECT count(*), sum(id), min(t), max(t) FROM par_heap;
SELECT workers_launched('SELECT count(*) FROM par');
EXPLAIN (COSTS OFF) SELECT g, count(*) FROM par WHERE id > 100 GROUP BY g;
SELECT g, count(*), sum(id) FROM par WHERE id > 100 GROUP BY g
EXCEPT
SELECT g, count(*), sum(id) FROM par_heap WHERE id > 100 GROUP BY g;
-- rows, not only aggregates
SELECT count(*) FROM (SELECT id, t FROM par EXCEPT SELECT id, t FROM par_heap) d;
SELECT count(*) FROM (SELECT id, t FROM par_heap EXCEPT SELECT id, t FROM par) d;
-- a join with a heap table, the Lyra side scanned in parallel
EXPLAIN (COSTS OFF) SELECT count(*) FROM par JOIN par_heap USING (id) WHERE par.g = 3;
SELECT count(*), sum(par.id) FROM par JOIN par_heap USING (id) WHERE par.g = 3;
-- Lyra partitions, appended in parallel
CREATE TABLE ppar (id int, g int) PARTITION BY RANGE (id);
CREATE TABLE ppar_1 PARTITION OF ppar FOR VALUES FROM (0) TO (30000) USING lyra;
CREATE TABLE ppar_2 PARTITION OF ppar FOR VALUES FROM (30000) TO (70000) USING lyra;
INSERT INTO ppar SELECT id, g FROM par;
ANALYZE ppar;
EXPLAIN (COSTS OFF) SELECT count(*) FROM ppar;
SELECT count(*), sum(id) FROM ppar;
-- A transaction that has written a Lyra table plans no parallel scan of
-- one (a worker would not see the writes) ...
BEGIN;
INSERT INTO par VALUES (100000, 1, 'mine');
EXPLAIN (COSTS OFF) SELECT count(*) FROM par;
SELECT count(*), max(id) FROM par;
ROLLBACK;
-- ... and runs one planned before its writes without workers, seeing them
SET plan_cache_mode = force_generic_plan;
PREPARE counted AS SELECT count(*), max(id) FROM par;
EXECUTE counted;
SELECT workers_launched('EXECUTE counted');
BEGIN;
INSERT INTO par VALUES (100000, 1, 'mine');
EXECUTE counted;
SELECT workers_launched('EXECUTE counted');
ROLLBACK;
EXECUTE counted;
DEALLOCATE counted;
RESET plan_cache_mode;
-- REPEATABLE READ and SERIALIZABLE read the table in parallel too
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM par;
SELECT workers_launched('SELECT count(*) FROM par');
COMMIT;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT count(*), sum(id) FROM par;
COMMIT;
DROP FUNCTION workers_launched;
DROP TABLE par, par_heap, ppar;
RESET ALL;

-- Filters pushed into the node: a LyraScan of the whole table has the node
-- send only rows that may match the clauses it can judge (Node Filter);
-- the backend still applies every clause. Each predicate below runs on a
-- heap copy and on the Lyra table, and the rows must agree.
CREATE TABLE pd_heap (id int, i2 int2, i8 int8, fl float8, f4 float4, t text, vc varchar(10),
  b bool, d date, ts timestamp, tz timestamptz, by bytea, n numeric) USING heap;
INSERT INTO pd_heap SELECT g, (g % 100)::int2, g * 1000000000::int8, g / 7.0, (g / 3.0)::float4, 'v' || g,
  'w' || (g % 50), g % 2 = 0, date '2020-01-01' + g, timestamp '2020-01-01' + g * interval '1 hour',
  timestamptz '2020-01-01 00:00+00' + g * interval '1 minute', ('\x' || lpad(to_hex(g), 4, '0'))::bytea, g / 3.0
  FROM generate_series(1, 3000) g;
INSERT INTO pd_heap VALUES (0, NULL, NULL, 'NaN', 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (-1, -32768, -9223372036854775808, '-Infinity', '-0', '', '', false, '-infinity', '-infinity', 'infinity', '\x', 'NaN'),
  (-2, 32767, 9223372036854775807, 'Infinity', 'Infinity', E'\u00e9t\u00e9', 'Z', true, 'infinity', 'infinity', '-infinity', '\x00ff', '-1');
CREATE TABLE pd (LIKE pd_heap) USING lyra;
INSERT INTO pd SELECT * FROM pd_heap;
ANALYZE pd, pd_heap;
-- (pushed: the Lyra query's plan has the node filter rows. enable_seqscan
-- is off for it, which the filtered LyraScan — a whole-table scan too —
-- obeys as well; it then wins wherever a clause is pushable and filters)
CREATE FUNCTION pd_check(predicates text[]) RETURNS TABLE (predicate text, pushed boolean, lyra_rows bigint, same boolean)
LANGUAGE plpgsql AS $$
DECLARE
  p text;
  h int[];
  l int[];
  plan text;
  pushed boolean;
BEGIN
  FOREACH p IN ARRAY predicates LOOP
    EXECUTE format('SELECT array_agg(id ORDER BY id) FROM pd_heap WHERE %s', p) INTO h;
    PERFORM set_config('enable_seqscan', 'off', true);
    pushed := false;
    FOR plan IN EXECUTE format('EXPLAIN SELECT id FROM pd WHERE %s', p) LOOP
      pushed := pushed OR plan LIKE '%Node Filter%';
    END LOOP;
    EXECUTE format('SELECT array_agg(id ORDER BY id) FROM pd WHERE %s', p) INTO l;
    PERFORM set_config('enable_seqscan', 'on', true);
    RETURN QUERY SELECT p, pushed, coalesce(cardinality(l), 0)::bigint, h IS NOT DISTINCT FROM l;
  END LOOP;
END $$;
-- the plans: a selective pushable clause makes a filtered LyraScan
EXPLAIN (COSTS OFF) SELECT * FROM pd WHERE id > 2990;
EXPLAIN (COSTS OFF) SELECT * FROM pd WHERE id > 2990 AND t LIKE 'v%' AND n > 5;
EXPLAIN (COSTS OFF) SELECT * FROM pd WHERE 2990 < id;
-- nothing pushable, or nothing filtered: a seq scan
EXPLAIN (COSTS OFF) SELECT * FROM pd WHERE n > 999;
EXPLAIN (COSTS OFF) SELECT * FROM pd WHERE id > 0;
SET lyra.enable_lyrascan = off;
EXPLAIN (COSTS OFF) SELECT * FROM pd WHERE id > 2990;
RESET lyra.enable_lyrascan;
SELECT * FROM pd_check(ARRAY[
  'id > 2990', 'id >= 2990 AND id <> 2995', '2995 < id', 'id = 7', 'id < -1', 'id BETWEEN 10 AND 12',
  'i2 = 7', 'i2 = 70000', 'i2 < -100', 'i2 >= 32767', 'i8 >= 2999000000000', 'i8 = -9223372036854775808',
  'i8 < 5::int2', 'fl > 420', 'fl = ''NaN''', 'fl > ''Infinity''', 'fl >= ''Infinity''', 'fl < ''-Infinity''',
  'fl <= -1e308', 'f4 < 1', 'f4 = 0', 'f4 >= ''NaN''', 'f4 = 1000::float8', 'fl = 1::float4',
  't = ''v123''', 't <> ''v1'' AND id < 5', 't < ''v11'' COLLATE "C"', 't = '''' ',
  'vc = ''w7''', 'vc > ''w8'' COLLATE "C"', 'b = true AND id < 10', 'b <> true AND id < 10', 'b IS NULL',
  'd BETWEEN ''2020-02-01'' AND ''2020-02-10''', 'd > ''infinity''', 'd = ''-infinity''',
  'ts > ''2020-04-01''', 'tz < ''2020-01-01 00:05+00''', 'tz > ''infinity''',
  'by = ''\x0010''', 'by > ''\x0b00''', 'by < ''\x0001''',
  't IS NULL', 't IS NOT NULL AND id < 3', 'i2 IS NULL OR i2 = 5', 'NOT (id > 5)', 'n > 999']);
-- this transaction's own writes are merged with the node's filtered rows
BEGIN;
UPDATE pd SET id = -id WHERE id BETWEEN 100 AND 105;
UPDATE pd_heap SET id = -id WHERE id BETWEEN 100 AND 105;
DELETE FROM pd WHERE id = 2999;
DELETE FROM pd_heap WHERE id = 2999;
INSERT INTO pd SELECT * FROM pd_heap WHERE id = 1;
INSERT INTO pd_heap SELECT * FROM pd_heap WHERE id = 1;
SELECT * FROM pd_check(ARRAY['id < -99', 'id BETWEEN 100 AND 105', 'id > 2990', 'id = 1']);
ROLLBACK;
-- rows older than ADD COLUMN: the node keeps them, the backend supplies
-- the default and decides
ALTER TABLE pd ADD COLUMN extra int DEFAULT 5;
ALTER TABLE pd_heap ADD COLUMN extra int DEFAULT 5;
INSERT INTO pd (id, extra) VALUES (5000, 6);
INSERT INTO pd_heap (id, extra) VALUES (5000, 6);
SELECT * FROM pd_check(ARRAY['extra = 5 AND id < 10', 'extra = 6', 'extra IS NULL']);
-- a scrollable cursor over a filtered scan
BEGIN;
DECLARE c SCROLL CURSOR FOR SELECT id FROM pd WHERE id > 2995 ORDER BY id;
FETCH 2 FROM c;
FETCH BACKWARD 1 FROM c;
FETCH LAST FROM c;
COMMIT;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM pd WHERE id > 2990;
DROP FUNCTION pd_check;
DROP TABLE pd, pd_heap;
-- an index range scan's other quals filter its rows on the node (not once
-- the transaction wrote the table: an entry it kept may name a row it
-- changed); the results are heap's (20 rows summing to 3960; in the
-- transaction 21/4061, then 20/3958)
CREATE TABLE ix (k int PRIMARY KEY, v int, t text) USING lyra;
INSERT INTO ix SELECT g, g % 10, 't' || g FROM generate_series(1, 5000) g;
ANALYZE ix;
EXPLAIN (COSTS OFF) SELECT * FROM ix WHERE k BETWEEN 100 AND 300 AND v = 3;
SELECT count(*), sum(k) FROM ix WHERE k BETWEEN 100 AND 300 AND v = 3;
SELECT count(*), sum(k) FROM ix WHERE k BETWEEN 100 AND 300 AND v = 3 AND t > 't2' COLLATE "C";
BEGIN;
UPDATE ix SET v = 3 WHERE k = 101;
SELECT count(*), sum(k) FROM ix WHERE k BETWEEN 100 AND 300 AND v = 3;
UPDATE ix SET v = 4 WHERE k = 103;
SELECT count(*), sum(k) FROM ix WHERE k BETWEEN 100 AND 300 AND v = 3;
ROLLBACK;
SELECT * FROM ix WHERE k IN (3, 13, 23) AND v = 3 ORDER BY k;
DROP TABLE ix;
-- projection: the filtered scan has the node send only the columns read
-- above it (VERBOSE: Node Columns); rows a statement updates, deletes,
-- locks or returns whole are fetched again whole
CREATE TABLE pw (id int, name text, grp int, amount numeric, pad text) USING lyra;
INSERT INTO pw SELECT g, 'customer ' || g, g % 100, g / 100.0, repeat('x', 200) FROM generate_series(1, 3000) g;
ANALYZE pw;
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*), sum(amount) FROM pw WHERE grp = 7;
EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM pw WHERE grp = 7;
EXPLAIN (VERBOSE, COSTS OFF) SELECT pw FROM pw WHERE grp = 7;
SELECT count(*), sum(amount) FROM pw WHERE grp = 7;
SELECT pw FROM pw WHERE grp = 7 AND id < 200 ORDER BY id;
BEGIN;
UPDATE pw SET amount = amount + 1 WHERE grp = 7 AND id < 500 RETURNING id, name, length(pad);
SELECT count(*), sum(amount), max(length(pad)), max(name) FROM pw WHERE grp = 7;
DELETE FROM pw WHERE grp = 7 AND id < 300 RETURNING id, name, length(pad);
SELECT id, name, length(pad) FROM pw WHERE grp = 7 AND id < 500 FOR UPDATE;
ROLLBACK;
SELECT count(*), sum(amount), max(length(pad)) FROM pw WHERE grp = 7;
-- saved plans (prepared statements, PL/pgSQL) are copies of the plan
PREPARE pw_q (int) AS SELECT count(*), sum(amount) FROM pw WHERE grp = $1;
EXECUTE pw_q(7); EXECUTE pw_q(7); EXECUTE pw_q(7); EXECUTE pw_q(7); EXECUTE pw_q(7);
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE pw_q(7);
EXECUTE pw_q(8);
DEALLOCATE pw_q;
CREATE FUNCTION pw_sum() RETURNS numeric LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT sum(amount) FROM pw WHERE grp = 9);
END $$;
SELECT pw_sum(), pw_sum(), pw_sum();
DROP FUNCTION pw_sum;
DROP TABLE pw;
-- an inheritance parent is scanned member by member, each filtered on the
-- node (a filtered scan of the parent alone would miss its children)
CREATE TABLE inh_p (f1 int, f2 text, f3 int DEFAULT 42) USING lyra;
INSERT INTO inh_p (f1, f2) SELECT g, 'p' || g FROM generate_series(1, 500) g;
CREATE TABLE inh_c (fc int) INHERITS (inh_p) USING lyra;
INSERT INTO inh_c SELECT g, 'c' || g, 7, -g FROM generate_series(1, 500) g;
ANALYZE inh_p, inh_c;
EXPLAIN (COSTS OFF) UPDATE inh_p SET f3 = f3 + 1 WHERE f1 = 250 RETURNING *;
UPDATE inh_p SET f3 = f3 + 1 WHERE f1 = 250 RETURNING *;
SELECT tableoid::regclass, * FROM inh_p WHERE f1 BETWEEN 249 AND 251 ORDER BY 1, 2;
DROP TABLE inh_p, inh_c;
-- parameters of generic plans (prepared statements, PL/pgSQL variables):
-- pushed when planned, their values taken when the scan starts (no rows
-- removed by the backend's filter: the node did it); NULL stays behind
CREATE TABLE pq (id int, grp int, t text) USING lyra;
INSERT INTO pq SELECT g, g % 100, 't' || g FROM generate_series(1, 5000) g;
ANALYZE pq;
PREPARE q (int) AS SELECT count(*), sum(id) FROM pq WHERE grp = $1;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE q(7);
EXECUTE q(7);
EXECUTE q(8);
EXECUTE q(NULL);
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE q(7);
PREPARE q2 (text) AS SELECT count(*) FROM pq WHERE t = $1;
EXECUTE q2('t77');
PREPARE q3 (bigint) AS SELECT count(*) FROM pq WHERE id > $1;
EXECUTE q3(4990);
CREATE FUNCTION pq_f(g int) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT count(*) FROM pq WHERE grp = g AND id > 100);
END $$;
SELECT pq_f(5), pq_f(6), pq_f(NULL);
RESET plan_cache_mode;
DROP FUNCTION pq_f;
DROP TABLE pq;

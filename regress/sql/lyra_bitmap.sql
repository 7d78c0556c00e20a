-- Bitmap scans: lyra_index and lyra_gin hand Postgres a bitmap of TIDs,
-- and the table reads the rows a TID block (291 row ids) at a time: OR
-- across indexes (BitmapOr), AND of two indexes (BitmapAnd). Every query
-- must return what heap returns: same_rows() runs a condition on the heap
-- table h and, forced through a bitmap scan, on the Lyra table l.
CREATE TABLE h (id int PRIMARY KEY, a int, b int, c text, at timestamp, tags int[]) USING heap;
INSERT INTO h SELECT g, g % 100, g % 37, 'c' || g % 50, timestamp '2026-01-01' + g * interval '1 hour',
    ARRAY[g % 10, g % 13]
  FROM generate_series(1, 3000) g;
CREATE TABLE l (LIKE h INCLUDING ALL) USING lyra;
INSERT INTO l SELECT * FROM h;
CREATE INDEX l_a ON l (a);
CREATE INDEX l_b ON l (b);
CREATE INDEX l_c ON l (c);
CREATE INDEX l_at ON l (at);
CREATE INDEX l_tags ON l USING gin (tags);
ANALYZE l;
CREATE FUNCTION same_rows(cond text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  hr int[];
  lr int[];
  line text;
  bitmap boolean := false;
BEGIN
  EXECUTE 'SELECT array_agg(id ORDER BY id) FROM h WHERE ' || cond INTO hr;
  PERFORM set_config('enable_seqscan', 'off', true);
  PERFORM set_config('enable_indexscan', 'off', true);
  PERFORM set_config('lyra.enable_lyrascan', 'off', true);
  EXECUTE 'SELECT array_agg(id ORDER BY id) FROM l WHERE ' || cond INTO lr;
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) SELECT id FROM l WHERE ' || cond LOOP
    bitmap := bitmap OR line LIKE '%Bitmap Heap Scan on l%';
  END LOOP;
  PERFORM set_config('enable_seqscan', 'on', true);
  PERFORM set_config('enable_indexscan', 'on', true);
  PERFORM set_config('lyra.enable_lyrascan', 'on', true);
  IF hr IS DISTINCT FROM lr THEN
    RETURN format('%s: heap %s rows, lyra %s rows', cond, cardinality(hr), cardinality(lr));
  END IF;
  RETURN format('%s: %s rows%s', cond, coalesce(cardinality(hr), 0), CASE WHEN bitmap THEN '' ELSE ' (no bitmap scan)' END);
END $$;
CREATE TABLE conds (n serial, cond text);
INSERT INTO conds (cond) VALUES
  ('a = 5'), ('a = 5 OR b = 7'), ('a = 5 AND b = 7'), ('a IN (1, 2, 3) OR c = ''c7'''),
  ('a < 10'), ('id BETWEEN 100 AND 400'), ('id > 2990 OR id < 3'), ('a = ANY (ARRAY[4, 40, 99])'),
  ('at >= date ''2026-03-01'' AND at < date ''2026-03-03'''),     -- a range rechecked
  ('c LIKE ''c1%'' AND a < 50'), ('tags @> ''{3}'' AND a = 3'), ('tags && ''{1,12}'' OR b = 0'),
  ('a = 1000');
SELECT n, same_rows(cond) FROM conds ORDER BY n;
-- what the planner picks by itself: ORs across indexes are bitmap scans
EXPLAIN (COSTS OFF) SELECT id FROM l WHERE a = 5 OR b = 7;
-- a point lookup stays a LyraScan (one round trip)
EXPLAIN (COSTS OFF) SELECT c FROM l WHERE id = 7;
-- this transaction's writes: bitmap scans see them as the seq scan does
BEGIN;
UPDATE h SET a = 5 WHERE id IN (1, 2, 3);
UPDATE l SET a = 5 WHERE id IN (1, 2, 3);
UPDATE h SET b = 8 WHERE id = 7;
UPDATE l SET b = 8 WHERE id = 7;
DELETE FROM h WHERE id IN (5, 105, 44);
DELETE FROM l WHERE id IN (5, 105, 44);
INSERT INTO h VALUES (5000, 5, 7, 'new', now(), '{3}');
INSERT INTO l VALUES (5000, 5, 7, 'new', now(), '{3}');
SELECT same_rows('a = 5 OR b = 7'), same_rows('a = 5 AND b = 7'), same_rows('tags @> ''{3}'' AND a = 5');
SAVEPOINT s;
UPDATE l SET a = 6 WHERE id = 1;
ROLLBACK TO SAVEPOINT s;
SELECT same_rows('a = 5 OR b = 7');
COMMIT;
SELECT same_rows('a = 5 OR b = 7'), same_rows('id BETWEEN 1 AND 10');
-- UPDATE and DELETE through a bitmap scan lock and change the rows it finds
SET enable_seqscan = off;
SET enable_indexscan = off;
SET lyra.enable_lyrascan = off;
EXPLAIN (COSTS OFF) UPDATE l SET c = 'upd' WHERE a = 9 OR b = 9;
UPDATE h SET c = 'upd' WHERE a = 9 OR b = 9;
UPDATE l SET c = 'upd' WHERE a = 9 OR b = 9;
DELETE FROM h WHERE a = 8 OR b = 8;
DELETE FROM l WHERE a = 8 OR b = 8;
RESET enable_seqscan;
RESET enable_indexscan;
RESET lyra.enable_lyrascan;
SELECT same_rows('c = ''upd'''), same_rows('a = 8 OR b = 8'), same_rows('a < 20');
SELECT (SELECT count(*) FROM h) AS heap_rows, (SELECT count(*) FROM l) AS lyra_rows;
-- a bitmap scan as the inner side of a join, once per outer row
SET enable_seqscan = off;
SET enable_indexscan = off;
SET lyra.enable_lyrascan = off;
SET enable_hashjoin = off;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF) SELECT k, count(l.id) FROM (VALUES (1), (2), (3)) v(k) JOIN l ON l.a = v.k OR l.b = v.k GROUP BY k ORDER BY k;
SELECT k, count(l.id) FROM (VALUES (1), (2), (3)) v(k) JOIN l ON l.a = v.k OR l.b = v.k GROUP BY k ORDER BY k;
SELECT k, count(h.id) FROM (VALUES (1), (2), (3)) v(k) JOIN h ON h.a = v.k OR h.b = v.k GROUP BY k ORDER BY k;
RESET ALL;
DROP TABLE h, l, conds;
DROP FUNCTION same_rows(text);

-- Inverted indexes: `USING gin` on a lyra table makes a lyra_gin, whose
-- entries (GIN's keys, extracted by GIN's operator classes) are stored in
-- the engine with the row. Every query through it must return what heap
-- returns: same_rows() runs a condition on the heap table h (by a scan)
-- and on the Lyra table l (through its lyra_gin indexes) and compares ids.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE h (id int, a int[], t text[], j jsonb, d tsvector, s text) USING heap;
INSERT INTO h SELECT g,
    CASE WHEN g % 23 = 0 THEN NULL WHEN g % 19 = 0 THEN '{}' WHEN g % 17 = 0 THEN ARRAY[g % 5, NULL]
         ELSE ARRAY[g % 5, g % 7, g % 11] END,
    ARRAY['t' || g % 3, 'u' || g % 4],
    CASE WHEN g % 29 = 0 THEN NULL WHEN g % 13 = 0 THEN '{}'::jsonb WHEN g % 31 = 0 THEN to_jsonb(g)
         ELSE jsonb_build_object('k', g % 4, 'tags', jsonb_build_array('x' || g % 3, 'y' || g % 2),
                                 'n', jsonb_build_object('deep', g % 6)) END,
    CASE WHEN g % 37 = 0 THEN NULL ELSE to_tsvector('english', 'word' || g % 9 || ' fox' || g % 4 || ' jumps') END,
    'item-' || g || '-' || md5(g::text)
  FROM generate_series(1, 600) g;
CREATE TABLE l (LIKE h) USING lyra;
INSERT INTO l SELECT * FROM h;
CREATE INDEX l_a ON l USING gin (a);
CREATE INDEX l_t ON l USING gin (t);
CREATE INDEX l_j ON l USING gin (j);
CREATE INDEX l_jp ON l USING gin (j jsonb_path_ops);
CREATE INDEX l_d ON l USING lyra_gin (d);               -- the access method by name
CREATE INDEX l_s ON l USING gin (s gin_trgm_ops);
CREATE INDEX l_at ON l USING gin (a, t);                -- two columns
\d l
CREATE FUNCTION same_rows(cond text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  hr int[];
  lr int[];
  line text;
  way text;
  used boolean;
  notes text := '';
BEGIN
  EXECUTE 'SELECT array_agg(id ORDER BY id) FROM h WHERE ' || cond INTO hr;
  PERFORM set_config('enable_seqscan', 'off', true);
  -- through a plain index scan, then through a bitmap scan
  FOREACH way IN ARRAY ARRAY['index', 'bitmap'] LOOP
    PERFORM set_config('enable_bitmapscan', (way = 'bitmap')::text, true);
    PERFORM set_config('enable_indexscan', (way = 'index')::text, true);
    EXECUTE 'SELECT array_agg(id ORDER BY id) FROM l WHERE ' || cond INTO lr;
    IF hr IS DISTINCT FROM lr THEN
      RETURN format('%s: heap %s rows, lyra %s rows by %s scan', cond, cardinality(hr), cardinality(lr), way);
    END IF;
    used := false;
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) SELECT id FROM l WHERE ' || cond LOOP
      used := used OR line LIKE CASE way WHEN 'index' THEN '%Index Scan using l\_%' ELSE '%Bitmap Index Scan on l\_%' END;
    END LOOP;
    IF NOT used THEN
      notes := notes || format(' (no %s scan)', way);
    END IF;
  END LOOP;
  PERFORM set_config('enable_seqscan', 'on', true);
  PERFORM set_config('enable_bitmapscan', 'on', true);
  PERFORM set_config('enable_indexscan', 'on', true);
  RETURN format('%s: %s rows%s', cond, coalesce(cardinality(hr), 0), notes);
END $$;
CREATE TABLE conds (n serial, cond text);
INSERT INTO conds (cond) VALUES
  ('a @> ''{1,2}'''), ('a @> ''{}'''), ('a && ''{3,10}'''), ('a <@ ''{1,2,3,4}'''), ('a = ''{1,2,3}'''),
  ('a @> ''{4}'' AND a <@ ''{0,1,2,3,4,5,6,7,8,9,10}'''), ('a && ''{}'''), ('a <@ ''{}'''),
  ('t @> ''{t1,u2}'''), ('t && ''{t0}'''),
  ('j @> ''{"k": 2}'''), ('j @> ''{"tags": ["x1"]}'''), ('j @> ''{"n": {"deep": 5}}'''), ('j @> ''{}'''),
  ('j ? ''tags'''), ('j ?| ''{k,zz}'''), ('j ?& ''{k,n}'''), ('j @> ''31'''), ('j @? ''$.n.deep ? (@ > 3)'''),
  ('j @@ ''$.k == 1'''), ('j = ''{}'''),
  ('d @@ ''word3 & fox1'''), ('d @@ ''word3 | word4'''), ('d @@ ''!word3'''), ('d @@ ''wor:*'''), ('d @@ ''fox2 <-> jump'''),
  ('s LIKE ''%-12-%'''), ('s ILIKE ''ITEM-5%'''), ('s ~ ''^item-(7|8)0-'''), ('s % ''item-300-'''),
  ('a @> ''{2}'' AND t @> ''{t2}''');
SELECT n, same_rows(cond) FROM conds ORDER BY n;
-- the indexes serve these queries
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM l WHERE a @> '{1,2}';
EXPLAIN (COSTS OFF) SELECT id FROM l WHERE j @> '{"k": 2}';
EXPLAIN (COSTS OFF) SELECT id FROM l WHERE d @@ 'word3 & fox1';
EXPLAIN (COSTS OFF) SELECT id FROM l WHERE s LIKE '%-12-%';
RESET enable_bitmapscan;
-- conditions on two indexes (a bitmap scan may AND them)
SELECT same_rows('a @> ''{1,2}'' AND j @> ''{"k": 2}''');
RESET enable_seqscan;
-- entries follow the rows: updates that change keys, that keep them, that
-- change other columns; deletes; a NULL becoming a value and back
UPDATE h SET a = a || 99, j = j || '{"k": 9}' WHERE id % 5 = 0 AND jsonb_typeof(j) = 'object';
UPDATE l SET a = a || 99, j = j || '{"k": 9}' WHERE id % 5 = 0 AND jsonb_typeof(j) = 'object';
UPDATE h SET a = NULL, d = NULL WHERE id % 7 = 0;
UPDATE l SET a = NULL, d = NULL WHERE id % 7 = 0;
UPDATE h SET a = '{1,2}', t = '{}' WHERE id % 23 = 0;
UPDATE l SET a = '{1,2}', t = '{}' WHERE id % 23 = 0;
UPDATE h SET s = s || '!' WHERE id % 3 = 0;
UPDATE l SET s = s || '!' WHERE id % 3 = 0;
UPDATE h SET id = id + 1000 WHERE id % 11 = 0;          -- no indexed column
UPDATE l SET id = id + 1000 WHERE id % 11 = 0;
DELETE FROM h WHERE id % 13 = 1;
DELETE FROM l WHERE id % 13 = 1;
INSERT INTO conds (cond) VALUES ('a @> ''{99}'''), ('j @> ''{"k": 9}'''), ('a IS NULL AND a @> ''{1}''');
SELECT n, same_rows(cond) FROM conds ORDER BY n;
-- a transaction sees its own entries; a rollback takes them back
BEGIN;
INSERT INTO l VALUES (5000, '{777}', '{t777}', '{"k": 777}', 'unusual', 'item-unusual');
UPDATE l SET a = '{778}' WHERE id = 2;
SET LOCAL enable_seqscan = off;
SELECT id FROM l WHERE a @> '{777}' OR a @> '{778}' ORDER BY id;
SELECT id FROM l WHERE j @> '{"k": 777}';
SAVEPOINT s;
DELETE FROM l WHERE id = 5000;
SELECT id FROM l WHERE d @@ 'unusual';
ROLLBACK TO SAVEPOINT s;
SELECT id FROM l WHERE d @@ 'unusual';
ROLLBACK;
SET enable_seqscan = off;
SELECT id FROM l WHERE a @> '{777}' OR a @> '{778}' OR j @> '{"k": 777}';
SELECT a FROM l WHERE id = 2;
RESET enable_seqscan;
-- REINDEX rebuilds, TRUNCATE empties, DROP INDEX removes
REINDEX INDEX l_a;
SELECT same_rows('a @> ''{1,2}''');
BEGIN;
TRUNCATE l;
INSERT INTO l SELECT * FROM h WHERE id < 100;
SELECT same_rows('a @> ''{1,2}'' AND id < 100'), same_rows('j ? ''tags'' AND id < 100');
ROLLBACK;
SELECT same_rows('j ? ''tags''');
DROP INDEX l_jp;
SELECT same_rows('j @> ''{"k": 2}''');
-- ALTER COLUMN ... TYPE rebuilds the index (bigint[]), or keeps it and its
-- entries when they stay the same (jsonb to jsonb); a rolled-back DROP
-- INDEX keeps it
ALTER TABLE h ALTER COLUMN a TYPE bigint[], ALTER COLUMN j TYPE jsonb;
ALTER TABLE l ALTER COLUMN a TYPE bigint[], ALTER COLUMN j TYPE jsonb;
SELECT same_rows('a @> ''{1,2}'''), same_rows('j @> ''{"tags": ["x1"]}''');
BEGIN;
DROP INDEX l_j;
ROLLBACK;
BEGIN;
SAVEPOINT s;
DROP INDEX l_j;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT same_rows('j ? ''tags''');
-- a partitioned table: each partition's index is a lyra_gin
CREATE TABLE p (id int, tags text[]) PARTITION BY RANGE (id);
CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100) USING lyra;
CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (100) TO (200) USING lyra;
CREATE INDEX p_tags ON p USING gin (tags);
INSERT INTO p SELECT g, ARRAY['p' || g % 10] FROM generate_series(0, 199) g;
SELECT c.relname, a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
  WHERE c.relname LIKE 'p%tags%' ORDER BY 1;
SET enable_seqscan = off;
SELECT count(*) FROM p WHERE tags @> '{p3}';
RESET enable_seqscan;
DROP TABLE p;
-- as a dump recreates one (USING lyra_gin with an extension's class);
-- on an expression, partial, and a row leaving it
CREATE INDEX l_s2 ON l USING lyra_gin (s gin_trgm_ops);
SELECT pg_get_indexdef('l_s2'::regclass);
DROP INDEX l_s2;
CREATE INDEX l_fts ON l USING gin (to_tsvector('simple', s)) WHERE id % 2 = 0;
SELECT same_rows('to_tsvector(''simple'', s) @@ plainto_tsquery(''simple'', ''item-12'') AND id % 2 = 0');
UPDATE h SET id = id + 1 WHERE s LIKE 'item-12-%';
UPDATE l SET id = id + 1 WHERE s LIKE 'item-12-%';
UPDATE h SET id = id + 1 WHERE s LIKE 'item-15-%';
UPDATE l SET id = id + 1 WHERE s LIKE 'item-15-%';
SELECT same_rows('to_tsvector(''simple'', s) @@ plainto_tsquery(''simple'', ''item-12'') AND id % 2 = 0'),
       same_rows('to_tsvector(''simple'', s) @@ plainto_tsquery(''simple'', ''item-15'') AND id % 2 = 0');
-- count(*) may read an index alone (an index-only scan that needs no column)
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM l;
SELECT count(*) FROM l;
SELECT count(*) FROM h;
RESET enable_seqscan;
-- what it does not take: brin, and keys lyra cannot encode
CREATE TABLE g (id int, r int4range, b tsvector[]) USING lyra;
CREATE INDEX ON g USING brin (r);
CREATE INDEX ON g USING gin (b);
DROP TABLE g;
-- a heap table keeps Postgres's own GIN
CREATE INDEX h_a ON h USING gin (a);
SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 'h_a';
DROP TABLE h, l, conds;
DROP FUNCTION same_rows(text);

-- GiST and SP-GiST: `USING gist` (spgist) on a lyra table makes a
-- lyra_gist (lyra_spgist), whose entries (the row's indexed values) are
-- stored in the engine with the row; a scan evaluates the operators on
-- them. Every query through one must return what heap returns:
-- same_rows() runs a condition on the heap table h (by a scan) and on the
-- Lyra table l (through its indexes) and compares ids; same_order() does
-- so for a nearest-first ORDER BY, comparing the distances in order.
-- every core GiST and SP-GiST class has its copy (none listed)
SELECT a.amname, c.opcname FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod
  WHERE a.amname IN ('gist', 'spgist') AND c.opcnamespace = 'pg_catalog'::regnamespace
    AND NOT EXISTS (
      SELECT FROM pg_opclass l JOIN pg_am la ON la.oid = l.opcmethod
      WHERE la.amname = 'lyra_' || a.amname AND l.opcname = c.opcname AND l.opcintype = c.opcintype
        AND l.opckeytype = c.opckeytype AND l.opcdefault = c.opcdefault
        AND (SELECT array_agg((amopstrategy, amopopr, amoppurpose) ORDER BY amopstrategy, amopopr)
               FROM pg_amop WHERE amopfamily = l.opcfamily)
            = (SELECT array_agg((amopstrategy, amopopr, amoppurpose) ORDER BY amopstrategy, amopopr)
               FROM pg_amop WHERE amopfamily = c.opcfamily)
        AND (SELECT array_agg((amprocnum, amproc) ORDER BY amprocnum, amproc::oid)
               FROM pg_amproc WHERE amprocfamily = l.opcfamily)
            = (SELECT array_agg((amprocnum, amproc) ORDER BY amprocnum, amproc::oid)
               FROM pg_amproc WHERE amprocfamily = c.opcfamily));
CREATE TABLE h (id int, p point, b box, pg polygon, c circle, r int4range, a inet, d tsvector, s text) USING heap;
INSERT INTO h SELECT g,
    CASE WHEN g % 23 = 0 THEN NULL ELSE point(g % 30, g / 30) END,
    box(point(g % 30, g / 30), point(g % 30 + g % 4, g / 30 + g % 3)),
    CASE WHEN g % 19 = 0 THEN NULL ELSE polygon(box(point(g % 25, g % 13), point(g % 25 + 3, g % 13 + 2))) END,
    circle(point(g % 17, g % 11), g % 5),
    CASE WHEN g % 29 = 0 THEN NULL WHEN g % 31 = 0 THEN 'empty' ELSE int4range(g % 50, g % 50 + g % 9) END,
    ('10.' || g % 4 || '.' || g % 7 || '.' || g % 200)::inet,
    to_tsvector('simple', 'word' || g % 9 || ' fox' || g % 4 || ' jumps'),
    'item-' || g % 40 || '-' || md5(g::text)
  FROM generate_series(1, 600) g;
CREATE TABLE l (LIKE h) USING lyra;
INSERT INTO l SELECT * FROM h;
CREATE INDEX l_p ON l USING gist (p);
CREATE INDEX l_b ON l USING gist (b);
CREATE INDEX l_pg ON l USING gist (pg);
CREATE INDEX l_c ON l USING lyra_gist (c);              -- the access method by name
CREATE INDEX l_r ON l USING gist (r);
CREATE INDEX l_a ON l USING gist (a inet_ops);
CREATE INDEX l_d ON l USING gist (d tsvector_ops (siglen = 8));
CREATE INDEX l_pr ON l USING gist (p, r) INCLUDE (id);  -- two columns
CREATE INDEX l_box ON l USING gist (box(c)) WHERE id > 100;  -- expression, partial
CREATE INDEX l_sp_p ON l USING spgist (p kd_point_ops);
CREATE INDEX l_sp_r ON l USING spgist (r);
CREATE INDEX l_sp_s ON l USING spgist (s);
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
CREATE FUNCTION same_order(dist text, lim int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  hd float8[];
  ld float8[];
  line text;
  used boolean := false;
  q text := format('SELECT array_agg(d) FROM (SELECT %s AS d FROM %%s ORDER BY %s LIMIT %s) s', dist, dist, lim);
BEGIN
  EXECUTE format(q, 'h') INTO hd;
  PERFORM set_config('enable_seqscan', 'off', true);
  PERFORM set_config('enable_bitmapscan', 'off', true);
  EXECUTE format(q, 'l') INTO ld;
  FOR line IN EXECUTE format('EXPLAIN (COSTS OFF) SELECT id FROM l ORDER BY %s LIMIT %s', dist, lim) LOOP
    used := used OR line LIKE '%Order By:%';
  END LOOP;
  PERFORM set_config('enable_seqscan', 'on', true);
  PERFORM set_config('enable_bitmapscan', 'on', true);
  IF hd IS DISTINCT FROM ld THEN
    RETURN format('ORDER BY %s: heap %s, lyra %s', dist, hd, ld);
  END IF;
  RETURN format('ORDER BY %s: %s rows%s', dist, cardinality(hd), CASE WHEN used THEN '' ELSE ' (no ordered index scan)' END);
END $$;
CREATE TABLE conds (n serial, cond text);
INSERT INTO conds (cond) VALUES
  ('p <@ box ''((3,3),(9,9))'''), ('p << point ''(5,0)'''), ('p >^ point ''(0,15)'''), ('p ~= point ''(7,7)'''),
  ('p IS NULL'), ('p IS NOT NULL AND p <@ box ''((0,0),(2,2))'''),
  ('b && box ''((5,5),(6,6))'''), ('b @> box ''((1,1),(1.5,1.5))'''), ('b <@ box ''((0,0),(10,10))'''), ('b &< box ''((2,0),(3,3))'''),
  ('pg && polygon ''((1,1),(3,1),(3,3))'''), ('pg @> polygon ''((2,2),(2.5,2),(2.5,2.5))'''), ('pg IS NULL'),
  ('c && circle ''((5,5),2)'''), ('c <@ circle ''((8,5),6)'''),
  ('r && int4range(10, 12)'), ('r @> 25'), ('r <@ int4range(0, 10)'), ('r = ''empty'''), ('r -|- int4range(40, 45)'), ('r IS NULL'),
  ('a << inet ''10.1.3.0/24'''), ('a <<= inet ''10.2.0.0/16'''), ('a && inet ''10.0.0.0/8'''),
  ('d @@ to_tsquery(''simple'', ''word3 & fox1'')'), ('d @@ to_tsquery(''simple'', ''!word3'')'),
  ('p <@ box ''((0,0),(29,5))'' AND r && int4range(3, 7)'),
  ('box(c) && box ''((0,0),(3,3))'' AND id > 100'),
  ('s ^@ ''item-3'''), ('s = ''item-7-'' || md5(''47'')'), ('s < ''item-12''');
SELECT same_rows(cond) FROM conds ORDER BY n;
SELECT same_order('p <-> point ''(10,10)''', 25), same_order('pg <-> point ''(4,4)''', 25),
       same_order('c <-> point ''(3,2)''', 25), same_order('b <-> point ''(12,7)''', 25);
-- a nearest-first scan from the SP-GiST index, NULLs last
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM l ORDER BY p <-> point '(1,1)' LIMIT 3;
SELECT count(*) FILTER (WHERE p IS NULL) AS nulls, bool_and(p IS NULL) FILTER (WHERE n > 580) AS last_are_null
  FROM (SELECT p, row_number() OVER () AS n FROM (SELECT p FROM l ORDER BY p <-> point '(1,1)') s) t;
-- count(*) may read the index alone (an index-only scan that needs no column)
EXPLAIN (COSTS OFF) SELECT count(*) FROM l;
SELECT count(*) FROM l;
SELECT count(*) FROM h;
RESET enable_seqscan;
-- changes: an UPDATE moves a row's entry, a DELETE removes it, a rolled
-- back INSERT leaves none
UPDATE h SET p = point(100, 100), r = int4range(500, 501) WHERE id % 10 = 0;
UPDATE l SET p = point(100, 100), r = int4range(500, 501) WHERE id % 10 = 0;
UPDATE h SET s = 'changed' WHERE id % 7 = 0;
UPDATE l SET s = 'changed' WHERE id % 7 = 0;
DELETE FROM h WHERE id % 9 = 0;
DELETE FROM l WHERE id % 9 = 0;
BEGIN;
INSERT INTO l VALUES (1000, point(100, 100), NULL, NULL, NULL, int4range(500, 501), NULL, NULL, 'changed');
SELECT same_rows('p ~= point ''(100,100)''');   -- one more on lyra: the transaction's own row
ROLLBACK;
SELECT same_rows('p ~= point ''(100,100)'''), same_rows('r @> 500'), same_rows('s = ''changed'''), same_rows('p <@ box ''((3,3),(9,9))''');
SELECT same_order('p <-> point ''(99,99)''', 70);
-- the definition names lyra_gist's classes, so ALTER COLUMN … TYPE
-- rebuilds the index as a lyra_gist
ALTER TABLE l ALTER COLUMN a TYPE cidr USING set_masklen(a, 32)::cidr;
ALTER TABLE h ALTER COLUMN a TYPE cidr USING set_masklen(a, 32)::cidr;
SELECT pg_get_indexdef('l_a'::regclass);
SELECT same_rows('a << inet ''10.1.3.0/24''');
-- SET ACCESS METHOD: to heap the indexes become GiST's, and back
ALTER TABLE l SET ACCESS METHOD heap;
SELECT c.relname, a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
  WHERE c.relname IN ('l_p', 'l_d', 'l_sp_s') ORDER BY 1;
ALTER TABLE l SET ACCESS METHOD lyra;
SELECT c.relname, a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
  WHERE c.relname IN ('l_p', 'l_d', 'l_sp_s') ORDER BY 1;
SELECT same_rows('d @@ to_tsquery(''simple'', ''word3 & fox1'')'), same_rows('pg && polygon ''((1,1),(3,1),(3,3))''');
-- exclusion constraints, through lyra_gist (concurrency: isolation spec
-- `exclusion`)
CREATE TABLE booking (room int4range, during tsrange, EXCLUDE USING gist (room WITH =, during WITH &&)) USING lyra;
INSERT INTO booking VALUES ('[1,2)', '[2024-01-01 10:00, 2024-01-01 11:00)'), ('[2,3)', '[2024-01-01 10:00, 2024-01-01 11:00)');
INSERT INTO booking VALUES ('[1,2)', '[2024-01-01 10:30, 2024-01-01 12:00)');
INSERT INTO booking VALUES ('[1,2)', '[2024-01-01 11:00, 2024-01-01 12:00)');   -- adjacent: fine
UPDATE booking SET during = '[2024-01-01 09:00, 2024-01-01 10:30)' WHERE room = '[2,3)';  -- its own old version is no conflict
UPDATE booking SET room = '[1,2)' WHERE room = '[2,3)';
INSERT INTO booking VALUES ('[1,2)', '[2024-01-01 11:30, 2024-01-01 13:00)') ON CONFLICT DO NOTHING;
SELECT * FROM booking ORDER BY room, during;
\d booking
-- a constraint added to rows that break it; one they keep
CREATE TABLE spans (id int, r int4range) USING lyra;
INSERT INTO spans VALUES (1, '[1,5)'), (2, '[4,8)'), (3, '[10,12)');
ALTER TABLE spans ADD CONSTRAINT spans_no_overlap EXCLUDE USING gist (r WITH &&);
DELETE FROM spans WHERE id = 2;
ALTER TABLE spans ADD CONSTRAINT spans_no_overlap EXCLUDE USING spgist (r WITH &&);
INSERT INTO spans VALUES (4, '[11,13)');
-- deferred: checked at COMMIT
ALTER TABLE spans DROP CONSTRAINT spans_no_overlap;
ALTER TABLE spans ADD CONSTRAINT spans_no_overlap EXCLUDE USING gist (r WITH &&) DEFERRABLE INITIALLY DEFERRED;
BEGIN;
INSERT INTO spans VALUES (5, '[2,3)');
UPDATE spans SET r = '[20,30)' WHERE id = 5;
COMMIT;
BEGIN;
INSERT INTO spans VALUES (6, '[2,3)');
COMMIT;
SELECT * FROM spans ORDER BY id;
-- to heap and back, the constraint with its table
ALTER TABLE spans SET ACCESS METHOD heap;
ALTER TABLE spans SET ACCESS METHOD lyra;
INSERT INTO spans VALUES (7, '[25,26)');
\d spans
-- through btree too (a lyra_index)
CREATE TABLE eq (a int, b int, EXCLUDE (a WITH =)) USING lyra;
INSERT INTO eq VALUES (1, 1), (2, 1);
INSERT INTO eq VALUES (1, 2);
ALTER TABLE eq ADD EXCLUDE USING hash (b WITH =);   -- hash: a lyra_index too
UPDATE eq SET b = 3 WHERE a = 1;
ALTER TABLE eq ADD EXCLUDE USING hash (b WITH =);
INSERT INTO eq VALUES (3, 3);
\d eq
DROP TABLE booking, spans, eq;
-- what it does not take
CREATE TABLE g (id int, r int4range) USING lyra;
CREATE INDEX g_r ON g USING gist (r);
CLUSTER g USING g_r;
CREATE INDEX ON g USING brin (id);
DROP TABLE g;
-- a heap table keeps Postgres's own GiST
CREATE INDEX h_p ON h USING gist (p);
SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 'h_p';
DROP TABLE h, l, conds;
DROP FUNCTION same_rows(text);
DROP FUNCTION same_order(text, int);

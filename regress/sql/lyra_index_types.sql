-- Index keys of every type lyra_index encodes beyond the basics (numeric,
-- inet/cidr, macaddr(8), interval, xid8, pg_lsn, money, "char", timetz,
-- tid, bit strings, enum): each query through the Lyra index must return what heap
-- returns by a scan. check_index_type builds a heap table and an indexed
-- Lyra table with the same values, then for every value as a probe and
-- every operator compares the matching ids, and compares ORDER BY order.
CREATE FUNCTION check_index_type(typ text, vals text[]) RETURNS TABLE (checked int, mismatches text[])
LANGUAGE plpgsql AS $$
DECLARE
  op text;
  probe text;
  h int[];
  l int[];
  bad text[] := '{}';
  n int := 0;
  same boolean;
BEGIN
  EXECUTE format('CREATE TEMP TABLE h (id int, v %s) USING heap', typ);
  EXECUTE format('CREATE TABLE l (id int, v %s) USING lyra', typ);
  FOR i IN 1 .. array_length(vals, 1) LOOP
    EXECUTE format('INSERT INTO h VALUES ($1, $2::%s)', typ) USING i, vals[i];
  END LOOP;
  INSERT INTO l SELECT * FROM h;
  CREATE INDEX l_v ON l (v);
  PERFORM set_config('enable_seqscan', 'off', true);
  FOREACH probe IN ARRAY vals LOOP
    FOREACH op IN ARRAY ARRAY['=', '<', '<=', '>', '>='] LOOP
      EXECUTE format('SELECT array_agg(id ORDER BY id) FROM h WHERE v %s $1::%s', op, typ) INTO h USING probe;
      EXECUTE format('SELECT array_agg(id ORDER BY id) FROM l WHERE v %s $1::%s', op, typ) INTO l USING probe;
      n := n + 1;
      IF h IS DISTINCT FROM l THEN
        bad := bad || format('v %s %s: heap %s, lyra %s', op, probe, h, l);
      END IF;
    END LOOP;
  END LOOP;
  -- the index's order is the type's order (equal values in any order)
  -- (rows of one column: array_agg cannot gather arrays of other shapes)
  EXECUTE format('SELECT (SELECT array_agg(ROW(v) ORDER BY v) FROM h) = (SELECT array_agg(ROW(v)) FROM (SELECT v FROM l ORDER BY v) s)')
    INTO same;
  n := n + 1;
  IF NOT same THEN
    bad := bad || 'ORDER BY v differs'::text;
  END IF;
  PERFORM set_config('enable_seqscan', 'on', true);
  DROP TABLE h, l;
  RETURN QUERY SELECT n, bad;
END $$;
-- the index serves these queries
CREATE TABLE num_keys (n numeric) USING lyra;
CREATE INDEX ON num_keys (n);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM num_keys WHERE n BETWEEN 1.5 AND 2;
RESET enable_seqscan;
DROP TABLE num_keys;
SELECT * FROM check_index_type('numeric', ARRAY['NaN', 'Infinity', '-Infinity', '0', '-0.000', '1', '1.0', '1.00', '1.5',
  '-1.5', '-1', '10', '9.999', '0.001', '-0.001', '123456789012345678901234567890.5', '-99999999999999999999', '1e-20']);
SELECT * FROM check_index_type('inet', ARRAY['10.0.0.0/8', '10.5.0.0/8', '10.1.0.0/16', '10.0.0.0/16', '9.255.0.0/16',
  '10.1.2.3', '10.1.2.3/32', '192.168.0.1/24', '::1', '::ffff:10.1.2.3', '2001:db8::/32', '2001:db8::1/64', '0.0.0.0/0']);
SELECT * FROM check_index_type('cidr', ARRAY['10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '192.168.0.0/16', '::/0',
  '2001:db8::/32']);
SELECT * FROM check_index_type('macaddr', ARRAY['08:00:2b:01:02:03', '08:00:2b:01:02:04', '00:00:00:00:00:00',
  'ff:ff:ff:ff:ff:ff', '08:00:2b:01:02:03']);
SELECT * FROM check_index_type('macaddr8', ARRAY['08:00:2b:01:02:03:04:05', '08:00:2b:ff:fe:01:02:03',
  '00:00:00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff:ff:ff']);
SELECT * FROM check_index_type('interval', ARRAY['1 day', '24 hours', '1 mon', '30 days', '-1 day', '0', '1 year',
  '-178000000 years', '178000000 years', '1 day 00:00:00.000001', '23:59:59.999999']);
SELECT * FROM check_index_type('xid8', ARRAY['0', '1', '4294967296', '18446744073709551615', '9223372036854775808']);
SELECT * FROM check_index_type('pg_lsn', ARRAY['0/0', '0/1', '1/0', 'FFFFFFFF/FFFFFFFF', '80000000/0']);
SELECT * FROM check_index_type('money', ARRAY['0', '-1.50', '1.50', '92233720368547758.07', '-92233720368547758.08']);
SELECT * FROM check_index_type('"char"', ARRAY['a', 'b', 'A', E'\\001', E'\\377', '']);
SELECT * FROM check_index_type('timetz', ARRAY['12:00+00', '13:00+01', '11:00-01', '12:00+01', '00:00+15:59',
  '24:00-15:59', '12:00:00.000001+00']);
SELECT * FROM check_index_type('tid', ARRAY['(0,1)', '(0,2)', '(1,0)', '(65536,1)', '(4294967295,65535)']);
-- bit strings: the bytes, then the shorter first (B'1' < B'10' < B'100000000')
SELECT * FROM check_index_type('varbit', ARRAY['', '0', '1', '00', '01', '10', '1000000', '10000000', '100000000',
  '1000000000', '11111111', '111111111', '0000000000000001', '00000000', '000000000', '1010101010101010101']);
SELECT * FROM check_index_type('bit(4)', ARRAY['0000', '0001', '1000', '1111', '0110']);
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
ALTER TYPE mood ADD VALUE 'meh' BEFORE 'ok';
SELECT * FROM check_index_type('mood', ARRAY['sad', 'ok', 'happy', 'meh', 'ok']);
-- uniqueness is the type's equality, not its text
CREATE TABLE uniq_keys (n numeric UNIQUE, i interval UNIQUE, a inet UNIQUE) USING lyra;
INSERT INTO uniq_keys VALUES (1.5, '1 day', '10.0.0.1/8');
INSERT INTO uniq_keys VALUES (1.50, NULL, NULL);
INSERT INTO uniq_keys VALUES (NULL, '24 hours', NULL);
INSERT INTO uniq_keys VALUES (NULL, NULL, '10.0.0.1/8');
INSERT INTO uniq_keys VALUES (2, '1 day 1 second', '10.0.0.1/16');
SELECT * FROM uniq_keys ORDER BY n;
DROP TABLE uniq_keys;
-- under a nondeterministic ICU collation equal strings differ in bytes but
-- not in sort key, which is what a lyra_index keys them by: a unique index
-- is enforced as heap's is, lookups and ORDER BY use the index
CREATE COLLATION nocase (provider = icu, locale = '@colStrength=secondary', deterministic = false);
CREATE TABLE ci (x text COLLATE nocase) USING lyra;
INSERT INTO ci VALUES ('abc'), ('ABC'), ('def');
CREATE UNIQUE INDEX ON ci (x);              -- duplicates, as on heap
CREATE TABLE ci_pk (x text COLLATE nocase PRIMARY KEY, n int) USING lyra;
INSERT INTO ci_pk VALUES ('Straße', 1), ('abc', 2), ('Zürich', 3);
INSERT INTO ci_pk VALUES ('ABC', 4);        -- 23505
INSERT INTO ci_pk VALUES ('ZÜRICH', 5) ON CONFLICT (x) DO UPDATE SET n = ci_pk.n + 10;
INSERT INTO ci_pk VALUES ('DEF', 6) ON CONFLICT DO NOTHING;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT n FROM ci_pk WHERE x = 'zürich';
SELECT n FROM ci_pk WHERE x = 'zürich';
EXPLAIN (COSTS OFF) SELECT x FROM ci_pk ORDER BY x;
SELECT x, n FROM ci_pk ORDER BY x;
SELECT x FROM ci_pk WHERE x > 'ABC' AND x < 'zz' ORDER BY x DESC;
CREATE INDEX ci_x ON ci (x);
CREATE INDEX ON ci (x text_pattern_ops);    -- refused, as btree refuses it
SELECT x FROM ci WHERE x = 'Abc' ORDER BY x COLLATE "C";
RESET enable_seqscan;
DROP TABLE ci, ci_pk;
DROP COLLATION nocase;
-- an enum index serves equality; ORDER BY sorts (labels may be renumbered)
CREATE TABLE moods (m mood PRIMARY KEY) USING lyra;
INSERT INTO moods VALUES ('happy'), ('sad'), ('meh'), ('ok');
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT * FROM moods ORDER BY m;
SELECT * FROM moods ORDER BY m;
SELECT * FROM moods WHERE m = 'meh';
RESET enable_seqscan;
DROP TABLE moods;
DROP TYPE mood;
-- arrays, composite types (and domains over them), ranges, multiranges
-- and jsonb: equal values, equal entries; comparisons are rechecked,
-- ORDER BY sorts
SELECT * FROM check_index_type('int[]', ARRAY['{1,2,3}', '{1,2}', '{}', '{1,NULL,3}', '{1,NULL}',
  '[0:2]={1,2,3}', '{{1,2},{3,4}}', '{2}', '{1,2,10}', '{NULL}']);
SELECT * FROM check_index_type('text[]', ARRAY['{a,b}', '{a}', '{"a b",c}', '{""}', '{NULL,a}', '{b}']);
SELECT * FROM check_index_type('jsonb', ARRAY['{"a": 1, "b": [1, 2.0, "x"]}', '{"b": [1, 2, "x"], "a": 1.00}', '1',
  '[1]', '"s"', 'null', '{}', '[]', 'true', '[[1], [2]]', '[[1, 2]]', '{"a": {"b": null}}', '{"a": {"b": 1}}', '"1"']);
SELECT * FROM check_index_type('int4range', ARRAY['[1,3)', '[1,2]', 'empty', '(,5)', '[2,)', '(,)', '[1,4)', '(0,3)']);
SELECT * FROM check_index_type('numrange', ARRAY['[1.0,2.0)', '[1,2.00)', '[1,2]', '(1,2)', 'empty', '(,2)', '[-0,1)']);
SELECT * FROM check_index_type('int4multirange', ARRAY['{}', '{[1,3)}', '{[1,2],[3,4]}', '{[1,5)}', '{[1,3),[5,7)}', '{(,)}']);
CREATE TABLE bookings (during tsrange PRIMARY KEY, slots int4multirange UNIQUE) USING lyra;
INSERT INTO bookings VALUES ('[2026-01-01 10:00, 2026-01-01 11:00)', '{[1,3)}'), ('empty', '{}');
INSERT INTO bookings VALUES ('[2026-01-01 10:00, 2026-01-01 11:00)', '{[7,8)}');  -- the same range: duplicate
INSERT INTO bookings VALUES ('[2026-01-02 10:00,)', '{[1,2],[2,2]}');  -- {[1,3)}: duplicate
SELECT * FROM bookings WHERE slots = '{[1,2]}';
DROP TABLE bookings;
CREATE TABLE docs (doc jsonb PRIMARY KEY) USING lyra;
INSERT INTO docs VALUES ('{"a": 1, "b": [1, 2.0]}'), ('[1]'), ('1');
INSERT INTO docs VALUES ('{"b": [1.00, 2], "a": 1.0}');  -- the same document: duplicate
SELECT * FROM docs WHERE doc = '{"b": [1, 2], "a": 1}';
DROP TABLE docs;
CREATE TYPE complex AS (r float8, i float8);
CREATE DOMAIN pos_complex AS complex CHECK ((VALUE).r >= 0);
SELECT * FROM check_index_type('complex', ARRAY['(1,2)', '(1,)', '(,)', '(0,2)', '(-0,2)', '(1,2.5)']);
SELECT * FROM check_index_type('complex[]', ARRAY['{"(1,2)"}', '{"(1,2)","(3,4)"}', '{NULL}', '{"(1,)"}']);
CREATE TABLE shapes (c pos_complex PRIMARY KEY, tags text[] UNIQUE, n int) USING lyra;
INSERT INTO shapes VALUES ('(1,2)', '{a,b}', 1), ('(1,)', '{a,NULL}', 2), ('(0,2)', '{}', 3);
INSERT INTO shapes VALUES ('(-0,2)', '{x}', 4);  -- -0 = 0: duplicate key
INSERT INTO shapes VALUES ('(5,5)', '{a,NULL}', 5);  -- NULL elements are equal: duplicate
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT n FROM shapes WHERE tags = '{a,b}';
SELECT n FROM shapes WHERE tags = '{a,b}';
SELECT n FROM shapes WHERE c = '(1,)'::complex;
RESET enable_seqscan;
-- the type of a key cannot change shape under its entries
ALTER TYPE complex ADD ATTRIBUTE j float8;
ALTER TYPE complex DROP ATTRIBUTE i;
DROP TABLE shapes;
ALTER TYPE complex ADD ATTRIBUTE j float8;
DROP DOMAIN pos_complex;
DROP TYPE complex;
DROP FUNCTION check_index_type;

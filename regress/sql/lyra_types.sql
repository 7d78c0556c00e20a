-- Every common type round-trips exactly as on heap: the same statements on a
-- heap table and a Lyra table, compared row by row as text.
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE types_heap (
  id int, b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, n numeric, n2 numeric(10,3),
  t text, vc varchar(10), c char(5), by bytea, d date, tm time, tmtz timetz, ts timestamp,
  tstz timestamptz, iv interval, u uuid, j json, jb jsonb, ia int[], ta text[], m mood,
  ma mood[], pt point, inet_ inet, "char" "char", nm name, oid_ oid
) USING heap;
CREATE TABLE types_lyra (LIKE types_heap) USING lyra;
INSERT INTO types_heap VALUES
  (1, true, 32767, 2147483647, 9223372036854775807, 1.5, 3.141592653589793, 12345678901234567890.123456789, 1234567.891,
   'hello', 'short', 'ab', '\xdeadbeef', '2024-02-29', '23:59:59.999999', '12:00+05:30', '2000-01-01 00:00:00',
   '2000-01-01 00:00:00+00', '1 year 2 months 3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
   '{"a": [1, 2, {"b": null}]}', '{"z": 1, "a": [true, false]}', '{1,2,3}', '{"x","y z",NULL}', 'happy',
   '{sad,ok}', '(1.5,-2)', '192.168.0.1/24', 'x', 'a_name', 4294967295),
  (2, false, -32768, -2147483648, -9223372036854775808, 'NaN', 'Infinity', 'NaN', -0.001,
   '', '', '', '\x', '-infinity', '00:00', '00:00-12', '-infinity',
   'infinity', '-178000000 years', '00000000-0000-0000-0000-000000000000',
   '[]', 'null', '{}', '{}', 'sad', '{}', '(0,0)', '::1', E'\\001', '', 0),
  (3, NULL, NULL, NULL, NULL, '-Infinity', '-Infinity', '-0', NULL,
   E'tab\there\nnewline \u00e9\u4e2d', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, '{{1,2},{3,4}}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
INSERT INTO types_lyra SELECT * FROM types_heap;
-- rows that differ between heap and Lyra (none expected)
SELECT h.id, h::text AS heap, l::text AS lyra
  FROM types_heap h FULL JOIN types_lyra l USING (id)
 WHERE h::text IS DISTINCT FROM l::text;
SELECT count(*) FROM types_lyra;
-- the values themselves, read back from Lyra
SELECT * FROM types_lyra ORDER BY id;
-- float specials compare and sort like heap
SELECT f8, f8 = 'NaN'::float8 AS is_nan FROM types_lyra ORDER BY f8;
-- updates of single columns keep the others intact
UPDATE types_lyra SET t = t || '!' WHERE id <= 2;
UPDATE types_heap SET t = t || '!' WHERE id <= 2;
SELECT count(*) AS differing FROM types_heap h FULL JOIN types_lyra l USING (id)
 WHERE h::text IS DISTINCT FROM l::text;
-- large values: 1 MB and 5 MB fields, text and bytea, stored uncompressed
CREATE TABLE big (id int, t text, b bytea) USING lyra;
INSERT INTO big SELECT 1, repeat('x', 1024 * 1024), decode(repeat('ab', 1024 * 1024), 'hex');
INSERT INTO big SELECT 2, string_agg(md5(g::text), '') , NULL FROM generate_series(1, 5 * 1024 * 1024 / 32) g;
SELECT id, length(t), octet_length(b), md5(t), md5(b) FROM big ORDER BY id;
SELECT md5(string_agg(md5(g::text), '')) = (SELECT md5(t) FROM big WHERE id = 2) AS same
  FROM generate_series(1, 5 * 1024 * 1024 / 32) g;
-- a toasted value from a heap table is detoasted into Lyra
CREATE TABLE big_heap (id int, t text);
INSERT INTO big_heap SELECT 1, repeat('abc', 300000);
INSERT INTO big SELECT id, t, NULL FROM big_heap;
SELECT count(*) FROM big WHERE t = repeat('abc', 300000);
-- domains and composite types
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE TABLE composite (id posint, p pair, ps pair[]) USING lyra;
INSERT INTO composite VALUES (1, ROW(1, 'one'), ARRAY[ROW(2, 'two')::pair, ROW(3, NULL)::pair]);
INSERT INTO composite VALUES (0, NULL, NULL);
SELECT id, p, (p).b, ps[2] FROM composite;
DROP TABLE types_heap, types_lyra, big, big_heap, composite;
DROP TYPE mood, pair;
DROP DOMAIN posint;

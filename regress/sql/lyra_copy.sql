-- COPY in and out, text, CSV and binary.
CREATE TABLE c (id int, name text, score numeric, at timestamptz) USING lyra;
SET timezone = 'UTC';
COPY c FROM STDIN;
1	alpha	1.5	2024-01-01 10:00:00+00
2	beta	\N	2024-01-02 11:30:00+00
3	gamma	-2.25	\N
\.
COPY c FROM STDIN WITH (FORMAT csv, HEADER true);
id,name,score,at
4,"delta, with comma",4,2024-03-04 00:00:00+00
5,,5.5,
\.
COPY c TO STDOUT;
COPY (SELECT * FROM c ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true);
-- bulk: COPY goes through multi_insert
CREATE TABLE bulk_src AS SELECT g AS id, 'row ' || g AS name, g * 1.5 AS score, NULL::timestamptz AS at
  FROM generate_series(1, 20000) g;
COPY (SELECT * FROM bulk_src) TO '/dev/null';
CREATE TABLE bulk (LIKE c) USING lyra;
INSERT INTO bulk SELECT * FROM bulk_src;
SELECT count(*), sum(id), sum(score) FROM bulk;
-- long scans prefetch their next page: one stopped early leaves it behind
-- and the session goes on; two scans read alternately each get their own
BEGIN;
SELECT count(*) FROM (SELECT * FROM bulk LIMIT 5000) s;
INSERT INTO bulk VALUES (0, 'zero', 0, NULL);
SELECT count(*) FROM bulk;
ROLLBACK;
DO $$
DECLARE
  c1 CURSOR FOR SELECT id FROM bulk;
  c2 CURSOR FOR SELECT id FROM bulk;
  a int; b int; n int := 0;
BEGIN
  OPEN c1; OPEN c2;
  LOOP
    FETCH c1 INTO a; FETCH c2 INTO b;
    EXIT WHEN a IS NULL;
    IF a IS DISTINCT FROM b THEN RAISE EXCEPTION 'scans out of step: % vs %', a, b; END IF;
    n := n + 1;
  END LOOP;
  RAISE NOTICE 'both scans read % rows in step', n;
END $$;
-- binary format round trip through a Lyra table
CREATE TABLE bin (LIKE c) USING lyra;
COPY c TO '/tmp/lyra_regress_copy.bin' WITH (FORMAT binary);
COPY bin FROM '/tmp/lyra_regress_copy.bin' WITH (FORMAT binary);
SELECT count(*) AS differing FROM c FULL JOIN bin USING (id) WHERE c::text IS DISTINCT FROM bin::text;
-- a failing COPY leaves nothing behind
COPY c FROM STDIN;
10	ok	1	\N
11	bad	not-a-number	\N
\.
SELECT count(*) FROM c WHERE id >= 10;
DROP TABLE c, bulk_src, bulk, bin;

-- Differential test: the same random writes go to a heap table and to a
-- Lyra table with indexes of every shape (unique, multi-column with DESC,
-- NULLS FIRST, partial, expression) — inserts, updates that move index
-- keys, deletes, upserts, subtransactions rolled back, a commit every few
-- statements —, then random queries run on both under each kind of scan
-- the planner may take (sequential, index / LyraScan, bitmap). Each must
-- return heap's rows, in heap's order (every ORDER BY ends with the unique
-- id). Seeded: the same statements every run.
CREATE TABLE dh (id int, a int, b text COLLATE "C", c float8, d bool) USING heap;
CREATE TABLE dl (id int, a int, b text COLLATE "C", c float8, d bool) USING lyra;
CREATE UNIQUE INDEX dh_id ON dh (id);
CREATE UNIQUE INDEX dl_id ON dl (id);
CREATE INDEX dl_a_b ON dl (a DESC, b);
CREATE INDEX dl_b ON dl (b NULLS FIRST);
CREATE INDEX dl_c_part ON dl (c) WHERE d;
CREATE INDEX dl_expr ON dl ((a % 7), id);
-- A random SQL literal for column kind k (NULL one time in ten).
CREATE FUNCTION rnd(k text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  IF random() < 0.1 THEN RETURN 'NULL'; END IF;
  RETURN CASE k
    WHEN 'a' THEN (floor(random() * 41) - 20)::int::text
    WHEN 'b' THEN quote_literal(CASE WHEN random() < 0.05 THEN '' ELSE 'x' || floor(random() * 31)::int END)
    WHEN 'c' THEN (floor(random() * 400) / 4)::text
    ELSE (random() < 0.5)::text
  END;
END $$;
-- Runs statement s (its %1$I the table) on both tables.
CREATE FUNCTION on_both(s text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format(s, 'dh');
  EXECUTE format(s, 'dl');
END $$;
-- n random writes of new ids from first_id on, committing every 8th
-- if commits.
CREATE PROCEDURE write_randomly(n int, first_id int, commits bool) LANGUAGE plpgsql AS $$
DECLARE
  next_id int := first_id;
  k int;
  r float8;
  s text;
BEGIN
  FOR i IN 1 .. n LOOP
    r := random();
    IF r < 0.40 THEN
      s := format('INSERT INTO %%1$I VALUES (%s, %s, %s, %s, %s)', next_id, rnd('a'), rnd('b'), rnd('c'), rnd('d'));
      next_id := next_id + 1;
    ELSIF r < 0.55 THEN
      s := format('UPDATE %%1$I SET a = %s, b = %s WHERE a BETWEEN %s AND %s AND id %%%% 3 = %s',
        rnd('a'), rnd('b'), floor(random() * 41) - 20, floor(random() * 41) - 17, floor(random() * 3));
    ELSIF r < 0.65 THEN
      s := format('UPDATE %%1$I SET c = c + 1, d = NOT d WHERE b = %s OR id = %s', rnd('b'), floor(random() * next_id));
    ELSIF r < 0.75 THEN
      s := format('DELETE FROM %%1$I WHERE id %%%% 7 = %s AND a >= %s', floor(random() * 7), rnd('a'));
    ELSIF r < 0.85 THEN
      k := CASE WHEN random() < 0.3 THEN next_id ELSE floor(random() * next_id) END;
      s := format('INSERT INTO %%1$I VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a, b = %%1$I.b || ''u''',
        k, rnd('a'), rnd('b'), rnd('c'), rnd('d'));
      IF k = next_id THEN next_id := next_id + 1; END IF;
    ELSE
      -- a subtransaction that writes, then rolls back
      BEGIN
        PERFORM on_both(format('UPDATE %%1$I SET a = %s WHERE id %%%% 5 = %s', rnd('a'), floor(random() * 5)));
        PERFORM on_both(format('INSERT INTO %%1$I VALUES (%s, 1, ''gone'', 0, true)', next_id + 100000));
        PERFORM on_both(format('DELETE FROM %%1$I WHERE a > %s', floor(random() * 41) - 20));
        RAISE EXCEPTION 'roll back';
      EXCEPTION WHEN raise_exception THEN NULL;
      END;
      CONTINUE;
    END IF;
    PERFORM on_both(s);
    IF commits AND i % 8 = 0 THEN COMMIT; END IF;
  END LOOP;
END $$;
SELECT setseed(0.4242);
CALL write_randomly(700, 1, true);
SELECT count(*) > 80 AS enough_rows, count(*) FILTER (WHERE a IS NULL) > 0 AS some_null_a,
       count(*) FILTER (WHERE b IS NULL) > 0 AS some_null_b FROM dl;
-- the tables hold the same rows
SELECT count(*) AS only_in_heap FROM (SELECT * FROM dh EXCEPT ALL SELECT * FROM dl) s;
SELECT count(*) AS only_in_lyra FROM (SELECT * FROM dl EXCEPT ALL SELECT * FROM dh) s;
-- n random queries (rows in an order, aggregates, distinct values, a
-- join), each under four plan settings; the ones whose Lyra
-- answer differs from heap's
CREATE FUNCTION query_randomly(n int) RETURNS TABLE (run int, differing text[]) LANGUAGE plpgsql AS $$
DECLARE
  preds text[] := ARRAY['a = %s', 'a < %s', 'a >= %s', 'a BETWEEN %s AND %s', 'a IS NULL',
    'b = %s', 'b > %s', 'b <= %s', 'b IS NULL', 'c > %s AND d', 'a %%%% 7 = %s', 'id IN (%s, %s, %s)',
    'a = %s AND b > %s', 'a > %s OR b = %s', 'b IS NOT NULL AND a <= %s',
    'a = ANY (ARRAY[%s, %s, %s])', 'id = ANY (ARRAY[%s, %s, 7, 8])', 'a IN (%s, %s) AND c IS NOT NULL'];
  orders text[] := ARRAY['id', 'a DESC, b, id', 'b NULLS FIRST, id', 'a, b DESC NULLS LAST, id',
    'a DESC NULLS LAST, id', 'b DESC, id DESC', 'c, id'];
  settings text[] := ARRAY['', 'SET LOCAL enable_seqscan = off',
    'SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off',
    'SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; SET LOCAL enable_material = off'];
  p text; q text; h text; l text; shape float8; bad text[] := '{}';
BEGIN
  FOR i IN 1 .. n LOOP
    p := preds[1 + floor(random() * array_length(preds, 1))::int];
    p := format(p, rnd('a'), rnd('a'), rnd('a'));
    IF p LIKE 'b%' OR p LIKE '%b %' THEN
      p := regexp_replace(p, '(b [=<>]+ )(NULL|-?[0-9]+)', '\1' || replace(rnd('b'), '\', '\\'));
    END IF;
    IF p LIKE 'c >%' THEN p := regexp_replace(p, '(c > )(NULL|-?[0-9]+)', '\1' || rnd('c')); END IF;
    shape := random();
    IF shape < 0.6 THEN
      -- rows in an order
      q := format('SELECT string_agg(format(''%%%%s/%%%%s/%%%%s/%%%%s/%%%%s'', id, a, b, c, d), '' '') FROM (SELECT * FROM %%1$I WHERE %s ORDER BY %s%s) s',
        p, orders[1 + floor(random() * array_length(orders, 1))::int],
        CASE WHEN random() < 0.3 THEN ' LIMIT ' || (1 + floor(random() * 5)) ELSE '' END);
    ELSIF shape < 0.75 THEN
      -- aggregates (min and max through an index)
      q := format('SELECT format(''%%%%s %%%%s %%%%s %%%%s %%%%s %%%%s'', count(*), min(a), max(a), min(b), max(b), sum(c)) FROM %%1$I WHERE %s', p);
    ELSIF shape < 0.85 THEN
      -- distinct values, in order
      q := format('SELECT string_agg(coalesce(a::text, ''-''), '' '') FROM (SELECT DISTINCT a FROM %%1$I WHERE %s ORDER BY a DESC LIMIT 6) s', p);
    ELSE
      -- a join on a (a nested loop looks rows up by the index)
      q := format('SELECT string_agg(x.id || '':'' || y.id, '' '' ORDER BY x.id, y.id) FROM (SELECT * FROM %%1$I WHERE %s) x JOIN %%1$I y ON y.a = x.a AND y.b >= x.b', p);
    END IF;
    FOR s IN 1 .. array_length(settings, 1) LOOP
      IF settings[s] <> '' THEN EXECUTE settings[s]; END IF;
      EXECUTE format(q, 'dh') INTO h;
      EXECUTE format(q, 'dl') INTO l;
      IF h IS DISTINCT FROM l THEN bad := bad || (s || ': ' || format(q, 'dl')); END IF;
      RESET enable_seqscan;
      RESET enable_indexscan;
      RESET enable_hashjoin;
      RESET enable_mergejoin;
      RESET enable_material;
    END LOOP;
  END LOOP;
  RETURN QUERY SELECT n, bad;
END $$;
SELECT * FROM query_randomly(120);
-- again inside a transaction that wrote (reads merge its own writes)
BEGIN;
CALL write_randomly(60, 1000, false);
SELECT * FROM query_randomly(80);
ROLLBACK;
SELECT count(*) AS only_in_lyra FROM (SELECT * FROM dl EXCEPT ALL SELECT * FROM dh) s;
DROP FUNCTION query_randomly;
DROP PROCEDURE write_randomly;
DROP FUNCTION on_both, rnd;
DROP TABLE dh, dl;

-- Differential test: the same random writes go to a heap table and to a
-- Lyra table with the same indexes, of every shape (unique, multi-column
-- with DESC, NULLS FIRST, partial, expression, text under an ICU collation
-- whose order is not byte order: equality only, GIN on jsonb) —
-- inserts, updates that move index keys and the unique key, deletes,
-- upserts, subtransactions rolled back, a commit every few statements,
-- the tables' shape changed half-way —, then random queries run on both under each kind of plan
-- the planner may take (sequential, index / LyraScan, bitmap, nested
-- loops; a scrollable cursor walked both ways). Each must return heap's
-- rows, in heap's order (every ORDER BY ends with the unique id). Two
-- rounds: plain tables, then partitioned ones. Seeded: the same
-- statements every run.
--
-- The round's indexes on both tables (heap's are btrees and a GIN).
CREATE FUNCTION index_both() RETURNS void LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY[current_setting('diff.heap'), current_setting('diff.lyra')] LOOP
    EXECUTE format('CREATE UNIQUE INDEX %1$s_id ON %1$I (id)', t);
    EXECUTE format('CREATE INDEX %1$s_a_b ON %1$I (a DESC, b)', t);
    EXECUTE format('CREATE INDEX %1$s_b ON %1$I (b NULLS FIRST)', t);
    EXECUTE format('CREATE INDEX %1$s_c_part ON %1$I (c) WHERE d', t);
    EXECUTE format('CREATE INDEX %1$s_expr ON %1$I ((a %% 7), id)', t);
    EXECUTE format('CREATE INDEX %1$s_e ON %1$I (e)', t);
    EXECUTE format('CREATE INDEX %1$s_j ON %1$I USING gin (j)', t);
  END LOOP;
END $$;
-- A random SQL literal for column kind k (NULL one time in ten).
CREATE FUNCTION rnd(k text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  IF random() < 0.1 THEN RETURN 'NULL'; END IF;
  RETURN CASE k
    WHEN 'a' THEN (floor(random() * 41) - 20)::int::text
    WHEN 'b' THEN quote_literal(CASE WHEN random() < 0.05 THEN '' ELSE 'x' || floor(random() * 31)::int END)
    WHEN 'c' THEN (floor(random() * 400) / 4)::text
    WHEN 'j' THEN quote_literal(jsonb_build_object('x', floor(random() * 4)::int, 'y', (ARRAY['p', 'q', 'r'])[1 + floor(random() * 3)::int])
      - (ARRAY['x', 'y', 'none'])[1 + floor(random() * 3)::int])
    WHEN 'jkey' THEN quote_literal((ARRAY['x', 'y', 'z'])[1 + floor(random() * 3)::int])
    WHEN 'e' THEN quote_literal((ARRAY['a', 'A', 'b', 'B', 'ä', 'Ä', 'aa', 'ab', '', 'z', 'Z', 'é', 'e', 'E'])[1 + floor(random() * 14)::int])
    ELSE (random() < 0.5)::text
  END;
END $$;
-- Runs statement s (its %1$I the table) on both tables of the round
-- (settings diff.heap and diff.lyra).
CREATE FUNCTION on_both(s text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format(s, current_setting('diff.heap'));
  EXECUTE format(s, current_setting('diff.lyra'));
END $$;
-- Rows in one table of the round and not in the other.
CREATE FUNCTION only_in() RETURNS TABLE (only_in_heap bigint, only_in_lyra bigint) LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE format('SELECT (SELECT count(*) FROM (TABLE %1$I EXCEPT ALL TABLE %2$I) s),
    (SELECT count(*) FROM (TABLE %2$I EXCEPT ALL TABLE %1$I) s)', current_setting('diff.heap'), current_setting('diff.lyra'));
END $$;
-- n random writes of new ids from first_id on, committing every 8th
-- if commits; with_f once the tables have column f.
CREATE PROCEDURE write_randomly(n int, first_id int, commits bool, with_f bool) LANGUAGE plpgsql AS $$
DECLARE
  next_id int := first_id;
  moves int := first_id;
  k int;
  r float8;
  s text;
BEGIN
  FOR i IN 1 .. n LOOP
    r := random();
    IF r < 0.40 THEN
      s := format('INSERT INTO %%1$I VALUES (%s, %s, %s, %s, %s, %s, %s)', next_id, rnd('a'), rnd('b'), rnd('c'), rnd('d'), rnd('e'), rnd('j'));
      next_id := next_id + 1;
    ELSIF r < 0.55 THEN
      s := format('UPDATE %%1$I SET a = %s, b = %s WHERE a BETWEEN %s AND %s AND id %%%% 3 = %s',
        rnd('a'), rnd('b'), floor(random() * 41) - 20, floor(random() * 41) - 17, floor(random() * 3));
    ELSIF r < 0.65 THEN
      s := format('UPDATE %%1$I SET c = c + 1, d = NOT d, e = coalesce(%s, e), j = j || ''{"y": "q"}''%s WHERE b = %s OR id = %s OR e = %s',
        rnd('e'), CASE WHEN with_f THEN ', f = f + 1' ELSE '' END, rnd('b'), floor(random() * next_id), rnd('e'));
    ELSIF r < 0.72 THEN
      s := format('DELETE FROM %%1$I WHERE id %%%% 7 = %s AND a >= %s', floor(random() * 7), rnd('a'));
    ELSIF r < 0.75 THEN
      -- the unique key moves (to the last partition, if partitioned), to
      -- ids no other statement uses
      moves := moves + 1;
      s := format('UPDATE %%1$I SET id = id + %s WHERE id < 100000 AND id %%%% 11 = %s AND a < %s',
        100000 * moves, floor(random() * 11), rnd('a'));
    ELSIF r < 0.85 THEN
      k := CASE WHEN random() < 0.3 THEN next_id ELSE floor(random() * next_id) END;
      s := format('INSERT INTO %%1$I VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET a = EXCLUDED.a, b = %%1$I.b || ''u'', e = EXCLUDED.e, j = EXCLUDED.j',
        k, rnd('a'), rnd('b'), rnd('c'), rnd('d'), rnd('e'), rnd('j'));
      IF k = next_id THEN next_id := next_id + 1; END IF;
    ELSE
      -- a subtransaction that writes, then rolls back
      BEGIN
        PERFORM on_both(format('UPDATE %%1$I SET a = %s WHERE id %%%% 5 = %s', rnd('a'), floor(random() * 5)));
        PERFORM on_both(format('INSERT INTO %%1$I VALUES (%s, 1, ''gone'', 0, true, ''gone'', ''{"x": 1}'')', -next_id));
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
-- The ids a scrollable cursor over query q meets walking both ways ('.':
-- none).
CREATE FUNCTION cursor_walk(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  c refcursor;
  r record;
  walked text := '';
BEGIN
  OPEN c SCROLL FOR EXECUTE q;
  FOR i IN 1 .. 3 LOOP
    FETCH NEXT FROM c INTO r;
    walked := walked || coalesce(r.id::text, '.') || ' ';
  END LOOP;
  FOR i IN 1 .. 2 LOOP
    FETCH PRIOR FROM c INTO r;
    walked := walked || coalesce(r.id::text, '.') || ' ';
  END LOOP;
  FETCH LAST FROM c INTO r;
  walked := walked || coalesce(r.id::text, '.') || ' ';
  FETCH PRIOR FROM c INTO r;
  walked := walked || coalesce(r.id::text, '.') || ' ';
  FETCH FIRST FROM c INTO r;
  walked := walked || coalesce(r.id::text, '.') || ' ';
  FETCH RELATIVE 2 FROM c INTO r;
  walked := walked || coalesce(r.id::text, '.') || ' ';
  FETCH ABSOLUTE -2 FROM c INTO r;
  walked := walked || coalesce(r.id::text, '.');
  CLOSE c;
  RETURN walked;
END $$;
-- n random queries (rows in an order, aggregates, distinct values, a
-- join, a scrollable cursor), each under four plan settings; the ones whose Lyra
-- answer differs from heap's
CREATE FUNCTION query_randomly(n int) RETURNS TABLE (run int, differing text[]) LANGUAGE plpgsql AS $$
DECLARE
  preds text[] := ARRAY['a = %s', 'a < %s', 'a >= %s', 'a BETWEEN %s AND %s', 'a IS NULL',
    'b = %s', 'b > %s', 'b <= %s', 'b IS NULL', 'c > %s AND d', 'a %%%% 7 = %s', 'id IN (%s, %s, %s)',
    'a = %s AND b > %s', 'a > %s OR b = %s', 'b IS NOT NULL AND a <= %s',
    'a = ANY (ARRAY[%s, %s, %s])', 'id = ANY (ARRAY[%s, %s, 7, 8])', 'a IN (%s, %s) AND c IS NOT NULL',
    'e = %s', 'e < %s', 'e >= %s', 'e IS NULL', 'e IN (%s, %s)', 'e = %s AND a > %s',
    'f > %s', 'f = 7 AND a < %s', 'j @> %s', 'j ? %s', 'j @> %s AND a > %s', 'j ?| ARRAY[%s, %s]'];
  orders text[] := ARRAY['id', 'a DESC, b, id', 'b NULLS FIRST, id', 'a, b DESC NULLS LAST, id',
    'a DESC NULLS LAST, id', 'b DESC, id DESC', 'c, id', 'e, id', 'e DESC NULLS LAST, id DESC', 'f DESC, a, id'];
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
    IF p LIKE 'e %' THEN
      p := regexp_replace(p, '^(e [=<>]+ |e IN \()(NULL|-?[0-9]+)', '\1' || rnd('e'));
      p := regexp_replace(p, '^(e IN \(.*, )(NULL|-?[0-9]+)', '\1' || rnd('e'));
    END IF;
    IF p LIKE 'j @>%' THEN
      p := regexp_replace(p, '^j @> (NULL|-?[0-9]+)', 'j @> ' || rnd('j'));
    ELSIF p LIKE 'j ?%' THEN
      p := regexp_replace(p, '(NULL|-?[0-9]+)', rnd('jkey'), 'g');
    END IF;
    IF p LIKE 'c >%' THEN p := regexp_replace(p, '(c > )(NULL|-?[0-9]+)', '\1' || rnd('c')); END IF;
    shape := random();
    IF shape < 0.5 THEN
      -- rows in an order
      q := format('SELECT string_agg(s::text, '' '') FROM (SELECT * FROM %%1$I WHERE %s ORDER BY %s%s) s',
        p, orders[1 + floor(random() * array_length(orders, 1))::int],
        CASE WHEN random() < 0.3 THEN ' LIMIT ' || (1 + floor(random() * 5)) ELSE '' END);
    ELSIF shape < 0.65 THEN
      -- aggregates (min and max through an index)
      q := format('SELECT format(''%%%%s %%%%s %%%%s %%%%s %%%%s %%%%s'', count(*), min(a), max(a), min(b), max(b), sum(c)) FROM %%1$I WHERE %s', p);
    ELSIF shape < 0.75 THEN
      -- distinct values, in order
      q := format('SELECT string_agg(coalesce(a::text, ''-''), '' '') FROM (SELECT DISTINCT a FROM %%1$I WHERE %s ORDER BY a DESC LIMIT 6) s', p);
    ELSIF shape < 0.87 THEN
      -- a join on a (a nested loop looks rows up by the index)
      q := format('SELECT string_agg(x.id || '':'' || y.id, '' '' ORDER BY x.id, y.id) FROM (SELECT * FROM %%1$I WHERE %s) x JOIN %%1$I y ON y.a = x.a AND y.b >= x.b', p);
    ELSE
      -- a scrollable cursor walked forward and back
      q := format('SELECT cursor_walk(%L)', format('SELECT id FROM %%1$I WHERE %s ORDER BY %s',
        p, orders[1 + floor(random() * array_length(orders, 1))::int]));
    END IF;
    FOR s IN 1 .. array_length(settings, 1) LOOP
      IF settings[s] <> '' THEN EXECUTE settings[s]; END IF;
      EXECUTE format(q, current_setting('diff.heap')) INTO h;
      EXECUTE format(q, current_setting('diff.lyra')) INTO l;
      IF h IS DISTINCT FROM l THEN bad := bad || (s || ': ' || format(q, current_setting('diff.lyra'))); END IF;
      RESET enable_seqscan;
      RESET enable_indexscan;
      RESET enable_hashjoin;
      RESET enable_mergejoin;
      RESET enable_material;
    END LOOP;
  END LOOP;
  RETURN QUERY SELECT n, bad;
END $$;
-- A round on tables heap and lyra (created, empty): their indexes, 500
-- random writes, a change of shape (a column added and dropped, one added
-- with a default that older rows lack, one changing type: a rewrite), 500
-- more, then the checks — also inside a transaction with its own writes
-- (rolled back). Each check is a NOTICE.
CREATE PROCEDURE play_round(heap text, lyra text, seed float8) LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  PERFORM set_config('diff.heap', heap, false);
  PERFORM set_config('diff.lyra', lyra, false);
  PERFORM index_both();
  FOR r IN SELECT c.relname, a.amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam
      WHERE c.relname LIKE heap || '\_%' OR c.relname LIKE lyra || '\_%' ORDER BY 1 LOOP
    RAISE NOTICE 'index %: %', r.relname, r.amname;
  END LOOP;
  PERFORM setseed(seed);
  CALL write_randomly(500, 1, true, false);
  PERFORM on_both('ALTER TABLE %1$I ADD COLUMN g text DEFAULT ''g''');
  PERFORM on_both('ALTER TABLE %1$I ADD COLUMN f int DEFAULT 7');
  PERFORM on_both('ALTER TABLE %1$I DROP COLUMN g');
  PERFORM on_both('ALTER TABLE %1$I ALTER COLUMN a TYPE bigint');
  PERFORM on_both('CREATE INDEX %1$s_f ON %1$I (f, a)');
  COMMIT;
  CALL write_randomly(500, 2000, true, true);
  EXECUTE format('SELECT count(*) > 80 AS enough_rows, count(*) FILTER (WHERE a IS NULL) > 0 AS some_null_a,
      count(*) FILTER (WHERE b IS NULL) > 0 AS some_null_b, count(*) FILTER (WHERE id > 100000) > 0 AS some_moved
    FROM %I', lyra) INTO r;
  RAISE NOTICE 'enough rows %, some null a %, some null b %, some moved %', r.enough_rows, r.some_null_a, r.some_null_b, r.some_moved;
  SELECT * INTO r FROM only_in();
  RAISE NOTICE 'rows only in heap %, only in lyra %', r.only_in_heap, r.only_in_lyra;
  SELECT * INTO r FROM query_randomly(400);
  RAISE NOTICE '% queries, differing: %', r.run, r.differing;
  COMMIT;
  -- reads merging the transaction's own writes
  CALL write_randomly(80, 5000, false, true);
  SELECT * INTO r FROM query_randomly(200);
  RAISE NOTICE 'in a transaction that wrote: % queries, differing: %', r.run, r.differing;
  ROLLBACK;
  SELECT * INTO r FROM only_in();
  RAISE NOTICE 'rolled back: rows only in heap %, only in lyra %', r.only_in_heap, r.only_in_lyra;
END $$;
-- Round 1: plain tables
CREATE TABLE dh (id int, a int, b text COLLATE "C", c float8, d bool, e text COLLATE "en-x-icu", j jsonb) USING heap;
CREATE TABLE dl (id int, a int, b text COLLATE "C", c float8, d bool, e text COLLATE "en-x-icu", j jsonb) USING lyra;
CALL play_round('dh', 'dl', 0.4242);
DROP TABLE dh, dl;
-- Round 2: partitioned by id, the partitions heap or Lyra tables; a moved
-- key goes to another partition
CREATE TABLE ph (id int, a int, b text COLLATE "C", c float8, d bool, e text COLLATE "en-x-icu", j jsonb) PARTITION BY RANGE (id);
CREATE TABLE ph_1 PARTITION OF ph FOR VALUES FROM (MINVALUE) TO (150) USING heap;
CREATE TABLE ph_2 PARTITION OF ph FOR VALUES FROM (150) TO (100000) USING heap;
CREATE TABLE ph_3 PARTITION OF ph FOR VALUES FROM (100000) TO (MAXVALUE) USING heap;
CREATE TABLE pl (id int, a int, b text COLLATE "C", c float8, d bool, e text COLLATE "en-x-icu", j jsonb) PARTITION BY RANGE (id);
CREATE TABLE pl_1 PARTITION OF pl FOR VALUES FROM (MINVALUE) TO (150) USING lyra;
CREATE TABLE pl_2 PARTITION OF pl FOR VALUES FROM (150) TO (100000) USING lyra;
CREATE TABLE pl_3 PARTITION OF pl FOR VALUES FROM (100000) TO (MAXVALUE) USING lyra;
CALL play_round('ph', 'pl', 0.2424);
DROP TABLE ph, pl;
DROP FUNCTION query_randomly;
DROP PROCEDURE write_randomly, play_round;
DROP FUNCTION on_both, only_in, rnd, cursor_walk, index_both;

-- The stress test's index run (scripts/stress.sh): each transaction moves
-- a row's indexed key, updates the rows of one key found through the
-- index (rows whose key others are moving: rechecked after each wait),
-- deletes a row by key and upserts it back. Every increment of v is logged
-- in stress_hist, every deleted row's v in stress_gone, so
-- sum(v) + sum(gone) = count(hist) when no write was lost or doubled.
\set id random(1, 300)
\set id2 random(1, 300)
\set k random(0, 49)
\set k2 random(0, 49)
BEGIN;
WITH u AS (UPDATE stress_keys SET v = v + 1, k = :k WHERE id = :id RETURNING id) INSERT INTO stress_hist SELECT id FROM u;
WITH u AS (UPDATE stress_keys SET v = v + 1 WHERE k = :k2 RETURNING id) INSERT INTO stress_hist SELECT id FROM u;
WITH d AS (DELETE FROM stress_keys WHERE id = :id2 AND k = :k RETURNING v) INSERT INTO stress_gone SELECT v FROM d;
INSERT INTO stress_keys VALUES (:id2, :k2, 0) ON CONFLICT (id) DO UPDATE SET k = EXCLUDED.k;
END;

-- Atomicity of Postgres transactions on Lyra tables.
CREATE TABLE acct (id int, balance int) USING lyra;
INSERT INTO acct VALUES (1, 100), (2, 100);
-- ROLLBACK undoes inserts, updates and deletes
BEGIN;
UPDATE acct SET balance = balance - 30 WHERE id = 1;
UPDATE acct SET balance = balance + 30 WHERE id = 2;
DELETE FROM acct WHERE id = 2;
INSERT INTO acct VALUES (3, 0);
SELECT * FROM acct ORDER BY id;
ROLLBACK;
SELECT * FROM acct ORDER BY id;
-- COMMIT makes all of them visible
BEGIN;
UPDATE acct SET balance = balance - 30 WHERE id = 1;
UPDATE acct SET balance = balance + 30 WHERE id = 2;
COMMIT;
SELECT * FROM acct ORDER BY id;
-- a statement that fails midway leaves nothing behind
INSERT INTO acct SELECT g, 100 / (5 - g) FROM generate_series(3, 6) g;
SELECT count(*) FROM acct;
UPDATE acct SET balance = balance / (id - 2);
SELECT * FROM acct ORDER BY id;
-- an error inside a transaction aborts all of it
BEGIN;
INSERT INTO acct VALUES (10, 10);
SELECT 1 / 0;
COMMIT;
SELECT count(*) FROM acct WHERE id = 10;
-- savepoints: ROLLBACK TO undoes only what followed the savepoint
BEGIN;
INSERT INTO acct VALUES (20, 20);
SAVEPOINT s1;
INSERT INTO acct VALUES (21, 21);
UPDATE acct SET balance = 0 WHERE id = 20;
SAVEPOINT s2;
DELETE FROM acct WHERE id = 1;
ROLLBACK TO s2;
SELECT * FROM acct WHERE id IN (1, 20, 21) ORDER BY id;
ROLLBACK TO s1;
SELECT * FROM acct WHERE id IN (1, 20, 21) ORDER BY id;
RELEASE s1;
COMMIT;
SELECT * FROM acct ORDER BY id;
-- PL/pgSQL exception blocks are subtransactions too
DO $$
BEGIN
  INSERT INTO acct VALUES (30, 30);
  BEGIN
    INSERT INTO acct VALUES (31, 31);
    PERFORM 1 / 0;
  EXCEPTION WHEN division_by_zero THEN
    RAISE NOTICE 'caught';
  END;
END $$;
SELECT * FROM acct WHERE id >= 30 ORDER BY id;
-- a statement does not see its own writes (no Halloween problem)
INSERT INTO acct SELECT id + 100, balance FROM acct;
SELECT count(*) FROM acct;
UPDATE acct SET balance = balance + 1;
SELECT sum(balance) FROM acct;
-- a cursor keeps the snapshot it was opened with
BEGIN;
DECLARE cur CURSOR FOR SELECT id, balance FROM acct WHERE id < 3 ORDER BY id;
UPDATE acct SET balance = -1 WHERE id < 3;
FETCH ALL FROM cur;
SELECT id, balance FROM acct WHERE id < 3 ORDER BY id;
COMMIT;
-- writes in a CTE and the main statement of one query
WITH moved AS (DELETE FROM acct WHERE id > 100 RETURNING *)
INSERT INTO acct SELECT id + 1000, balance FROM moved;
SELECT count(*) FILTER (WHERE id > 1000) AS moved, count(*) FILTER (WHERE id BETWEEN 101 AND 999) AS left_behind FROM acct;
-- triggers see the rows
CREATE TABLE audit (op text, id int) USING lyra;
CREATE FUNCTION audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit VALUES (TG_OP, coalesce(NEW.id, OLD.id));
  RETURN coalesce(NEW, OLD);
END $$;
CREATE TRIGGER acct_audit AFTER INSERT OR UPDATE OR DELETE ON acct FOR EACH ROW EXECUTE FUNCTION audit_fn();
INSERT INTO acct VALUES (40, 40);
UPDATE acct SET balance = 41 WHERE id = 40 RETURNING *;
DELETE FROM acct WHERE id = 40 RETURNING id;
SELECT * FROM audit ORDER BY op;
-- a two-table transaction commits both or neither
BEGIN;
INSERT INTO audit VALUES ('manual', 1);
INSERT INTO acct VALUES (50, 50);
ROLLBACK;
SELECT count(*) FROM audit WHERE op = 'manual';
SELECT count(*) FROM acct WHERE id = 50;
DROP TABLE acct, audit;
DROP FUNCTION audit_fn();
-- a row this transaction updated, then deleted or merged: row triggers see
-- the updated version (the lock taken for the delete is stronger than the
-- update's, and the row is still ours). The trigger function runs a
-- statement first (PERFORM): that advances the command counter past the
-- writing command's, and the old row must still be the one before the write
CREATE TABLE target (tid integer, balance integer) USING lyra;
INSERT INTO target VALUES (1, 10), (2, 20), (3, 30);
CREATE TABLE source (sid integer, delta integer) USING heap;
INSERT INTO source VALUES (2, 5), (3, 20), (4, 40);
CREATE FUNCTION trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM 1;
  IF TG_OP = 'UPDATE' THEN RAISE NOTICE '% % ROW: % -> %', TG_WHEN, TG_OP, OLD, NEW;
  ELSIF TG_OP = 'DELETE' THEN RAISE NOTICE '% % ROW: %', TG_WHEN, TG_OP, OLD;
  ELSE RAISE NOTICE '% % ROW: %', TG_WHEN, TG_OP, NEW; END IF;
  IF TG_WHEN = 'BEFORE' AND TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER bru BEFORE UPDATE OR DELETE OR INSERT ON target FOR EACH ROW EXECUTE PROCEDURE trg();
CREATE TRIGGER aru AFTER UPDATE OR DELETE OR INSERT ON target FOR EACH ROW EXECUTE PROCEDURE trg();
BEGIN;
UPDATE target SET balance = 0 WHERE tid = 3;
DELETE FROM target WHERE tid = 3;
ROLLBACK;
BEGIN;
UPDATE target SET balance = 0 WHERE tid = 3;
UPDATE target SET balance = 1 WHERE tid = 3;
ROLLBACK;
BEGIN;
UPDATE target SET balance = 0 WHERE tid = 3;
MERGE INTO target t USING source AS s ON t.tid = s.sid
WHEN MATCHED AND t.balance > s.delta THEN UPDATE SET balance = t.balance - s.delta
WHEN MATCHED THEN DELETE
WHEN NOT MATCHED THEN INSERT VALUES (s.sid, s.delta);
SELECT * FROM target ORDER BY tid;
ROLLBACK;
DROP TABLE target, source;
DROP FUNCTION trg;
-- xmin of a row is the (sub)transaction that wrote it
CREATE TABLE sx (a int, b int) USING lyra;
INSERT INTO sx VALUES (1, 1), (2, 2);
BEGIN;
INSERT INTO sx VALUES (6, 6);
SAVEPOINT one;
INSERT INTO sx VALUES (7, 7);
RELEASE SAVEPOINT one;
SAVEPOINT two;
INSERT INTO sx VALUES (8, 8);
RELEASE SAVEPOINT two;
INSERT INTO sx VALUES (9, 9);
SELECT a.xmin = b.xmin AS same_writer FROM sx a, sx b WHERE a.a = 6 AND b.a = 9;
SELECT a.xmin = b.xmin AS same_writer FROM sx a, sx b WHERE a.a = 6 AND b.a = 7;
SELECT a.xmin = b.xmin AS same_writer FROM sx a, sx b WHERE a.a = 7 AND b.a = 8;
COMMIT;
DROP TABLE sx;
-- a cursor FOR UPDATE fetching rows a later command of its transaction
-- updated skips them, as heap does (it raised "attempted to lock invisible
-- tuple")
BEGIN ISOLATION LEVEL SERIALIZABLE;
CREATE TABLE cursor_t (a int) USING lyra;
INSERT INTO cursor_t VALUES (1);
DECLARE c1 NO SCROLL CURSOR FOR SELECT * FROM cursor_t FOR UPDATE;
UPDATE cursor_t SET a = 2;
FETCH ALL FROM c1;
COMMIT;
DROP TABLE cursor_t;
-- xmax: this transaction's id for a row it locked, updated or deleted, 0
-- for a row it inserted or nobody touched
CREATE TABLE ux (a int PRIMARY KEY, b text) USING lyra;
INSERT INTO ux VALUES (1, 'x') ON CONFLICT (a) DO UPDATE SET b = 'y'
  RETURNING b, xmin = pg_current_xact_id()::xid AS xmin_ours, xmax = 0 AS xmax_zero;
INSERT INTO ux VALUES (1, 'x') ON CONFLICT (a) DO UPDATE SET b = 'y'
  RETURNING b, xmin = pg_current_xact_id()::xid AS xmin_ours, xmax = pg_current_xact_id()::xid AS xmax_ours;
INSERT INTO ux VALUES (2, 'z');
SELECT a, xmax FROM ux ORDER BY a;
BEGIN;
DELETE FROM ux WHERE a = 1 RETURNING a, xmax = pg_current_xact_id()::xid AS xmax_ours;
COMMIT;
DROP TABLE ux;

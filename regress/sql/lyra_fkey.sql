-- Foreign keys to and from Lyra tables: Postgres's own RI triggers do the
-- checks; Lyra's indexes carry btree's operator classes, which foreign
-- keys require, and after-row triggers see the old and the new version of
-- an updated row.
CREATE TABLE author (id int PRIMARY KEY, name text NOT NULL) USING lyra;
SELECT c.relname, a.amname, o.opcname, m.amname AS class_of
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
  JOIN pg_opclass o ON o.oid = i.indclass[0] JOIN pg_am m ON m.oid = o.opcmethod
 WHERE i.indrelid = 'author'::regclass;
CREATE TABLE book (
  id int PRIMARY KEY,
  author_id int REFERENCES author ON DELETE CASCADE ON UPDATE CASCADE,
  editor_id int REFERENCES author (id) ON DELETE SET NULL,
  title text) USING lyra;
CREATE TABLE review (id int, book_id int REFERENCES book ON DELETE RESTRICT);  -- heap → Lyra
INSERT INTO author VALUES (1, 'Le Guin'), (2, 'Lem'), (3, 'Borges');
INSERT INTO book VALUES (10, 1, 3, 'The Dispossessed'), (11, 2, 1, 'Solaris'), (12, 3, NULL, 'Ficciones');
INSERT INTO review VALUES (100, 11);
-- checks on insert and update of the referencing side
INSERT INTO book VALUES (13, 9, NULL, 'nobody wrote this');
UPDATE book SET author_id = 9 WHERE id = 10;
INSERT INTO review VALUES (101, 99);
-- actions on the referenced side
UPDATE author SET id = 20 WHERE id = 2;            -- CASCADE to book.author_id
SELECT id, author_id, editor_id FROM book ORDER BY id;
DELETE FROM author WHERE id = 3;                    -- CASCADE and SET NULL
SELECT id, author_id, editor_id FROM book ORDER BY id;
DELETE FROM book WHERE id = 11;                     -- RESTRICT from the heap table
UPDATE author SET name = 'Stanisław Lem' WHERE id = 20;   -- key unchanged: no check
-- NO ACTION on a key update: the old key is still referenced
CREATE TABLE city (name text PRIMARY KEY) USING lyra;
CREATE TABLE person (id int, city text REFERENCES city) USING lyra;
INSERT INTO city VALUES ('Lund'), ('Oslo');
INSERT INTO person VALUES (1, 'Lund');
UPDATE city SET name = 'Lund2' WHERE name = 'Lund';
UPDATE city SET name = 'Oslo2' WHERE name = 'Oslo';
SELECT * FROM city ORDER BY name;
-- the same, with the key updated twice in one transaction and the check
-- deferred to commit: each event sees its own old and new row
CREATE TABLE code (c int PRIMARY KEY) USING lyra;
CREATE TABLE uses (c int REFERENCES code DEFERRABLE INITIALLY DEFERRED) USING lyra;
INSERT INTO code VALUES (1), (2);
INSERT INTO uses VALUES (1);
BEGIN;
UPDATE code SET c = 5 WHERE c = 1;
UPDATE code SET c = 6 WHERE c = 5;
COMMIT;
BEGIN;
INSERT INTO uses VALUES (3);                        -- fixed before commit
INSERT INTO code VALUES (3);
COMMIT;
BEGIN;
UPDATE code SET c = 7 WHERE c = 2;
UPDATE code SET c = 2 WHERE c = 7;                  -- back where it was
COMMIT;
SELECT * FROM code ORDER BY c;
-- ALTER TABLE ADD FOREIGN KEY validates existing rows
CREATE TABLE orphan (a int) USING lyra;
INSERT INTO orphan VALUES (1), (42);
ALTER TABLE orphan ADD FOREIGN KEY (a) REFERENCES code;
DELETE FROM orphan WHERE a = 42;
ALTER TABLE orphan ADD FOREIGN KEY (a) REFERENCES code;
-- after-row triggers of user code see OLD and NEW as they were
CREATE TABLE audit (op text, old_v int, new_v int);
CREATE FUNCTION note_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit VALUES (TG_OP,
    CASE WHEN TG_OP <> 'INSERT' THEN OLD.c END,
    CASE WHEN TG_OP <> 'DELETE' THEN NEW.c END);
  RETURN NULL;
END $$;
CREATE TABLE watched (c int) USING lyra;
CREATE TRIGGER watched_after AFTER INSERT OR UPDATE OR DELETE ON watched
  FOR EACH ROW EXECUTE FUNCTION note_change();
BEGIN;
INSERT INTO watched VALUES (1);
UPDATE watched SET c = c + 1;
UPDATE watched SET c = c * 10;
DELETE FROM watched;
COMMIT;
SELECT * FROM audit;
-- checks of a parent already checked in the transaction (answered
-- without the node while its lock is held) still see the transaction's
-- own changes to it
CREATE TABLE kp (id int PRIMARY KEY, v text) USING lyra;
CREATE TABLE kc (id int PRIMARY KEY, p int REFERENCES kp) USING lyra;
INSERT INTO kp SELECT g, 'p' FROM generate_series(1, 10) g;
BEGIN;
INSERT INTO kc SELECT g, 1 + g % 10 FROM generate_series(1, 500) g;
DELETE FROM kc WHERE p = 7;
DELETE FROM kp WHERE id = 7;
INSERT INTO kc VALUES (1001, 7);
ROLLBACK;
BEGIN;
INSERT INTO kc VALUES (1, 3);
UPDATE kp SET id = 30 WHERE id = 4;
INSERT INTO kc VALUES (2, 4);
ROLLBACK;
BEGIN;
INSERT INTO kc VALUES (1, 3);
UPDATE kp SET v = 'changed' WHERE id = 3;
INSERT INTO kc VALUES (2, 3);
SELECT v FROM kp WHERE id = 3 FOR KEY SHARE;
COMMIT;
INSERT INTO kc SELECT g, 1 + g % 10 FROM generate_series(3, 500) g;
SELECT count(*), count(DISTINCT p) FROM kc;
DROP TABLE kc, kp;
-- a statement's checks of many parents: the first check that asks the
-- node takes the statement's other parents along (index/parents.rs), a
-- few requests in all instead of one per row
CREATE TABLE bp (id int PRIMARY KEY, v text) USING lyra;
CREATE TABLE bc (id int PRIMARY KEY, p int REFERENCES bp) USING lyra;
INSERT INTO bp SELECT g, 'p' || g FROM generate_series(1, 3000) g;
SELECT lyra.node_requests() AS before \gset
INSERT INTO bc SELECT g, g FROM generate_series(1, 3000) g;
SELECT lyra.node_requests() - :before < 30 AS checked_in_a_few_requests;
-- one parent missing among them still fails its check; NULLs need none
INSERT INTO bc SELECT 5000 + g, CASE WHEN g = 1500 THEN 9999 ELSE g END FROM generate_series(1, 2000) g;
INSERT INTO bc VALUES (90000, NULL);
-- parents of the transaction's own beside committed ones
BEGIN;
INSERT INTO bp SELECT g, 'new' FROM generate_series(3001, 3100) g;
INSERT INTO bc SELECT 6000 + g, g FROM generate_series(2901, 3100) g;
COMMIT;
-- checks rolled back with their savepoint, then made again
BEGIN;
SAVEPOINT s;
INSERT INTO bc SELECT 7000 + g, g FROM generate_series(1, 1500) g;
ROLLBACK TO s;
INSERT INTO bc SELECT 7000 + g, g FROM generate_series(1, 1500) g;
COMMIT;
-- a deferred constraint is checked at COMMIT, against parents added
-- since, and fails there for a parent never added
CREATE TABLE bd (id int PRIMARY KEY, p int REFERENCES bp DEFERRABLE INITIALLY DEFERRED) USING lyra;
BEGIN;
INSERT INTO bd SELECT g, g + 3100 FROM generate_series(1, 50) g;
INSERT INTO bp SELECT g, 'late' FROM generate_series(3101, 3150) g;
COMMIT;
BEGIN;
INSERT INTO bd SELECT g, g + 3200 FROM generate_series(51, 60) g;
COMMIT;
-- a key of two columns referenced in another order than the parent's,
-- and text keys
CREATE TABLE mp (a int, b text, PRIMARY KEY (a, b)) USING lyra;
CREATE TABLE mc (id int PRIMARY KEY, y text, x int, FOREIGN KEY (x, y) REFERENCES mp (a, b)) USING lyra;
INSERT INTO mp SELECT g, 'k' || g FROM generate_series(1, 1200) g;
SELECT lyra.node_requests() AS before \gset
INSERT INTO mc SELECT g, 'k' || g, g FROM generate_series(1, 1200) g;
SELECT lyra.node_requests() - :before < 30 AS checked_in_a_few_requests;
INSERT INTO mc SELECT 2000 + g, 'k' || g, CASE WHEN g = 700 THEN 701 ELSE g END FROM generate_series(1, 1200) g;
-- a child key of another type than the parent's (checked row by row)
CREATE TABLE wc (id int PRIMARY KEY, p bigint REFERENCES bp) USING lyra;
INSERT INTO wc SELECT g, g FROM generate_series(1, 300) g;
INSERT INTO wc VALUES (301, 99999);
SELECT (SELECT count(*) FROM bc), (SELECT count(*) FROM bd), (SELECT count(*) FROM mc), (SELECT count(*) FROM wc);
DROP TABLE bc, bd, wc, bp, mc, mp;
DROP TABLE review, book, author, person, city, uses, code, orphan, watched, audit;
DROP FUNCTION note_change();

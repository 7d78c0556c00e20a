-- The README's tour: a table stored in the Lyra engine, used as any table.
CREATE TABLE movie (id int, title text NOT NULL, year int, rating float8) USING lyra;
SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 'movie';
INSERT INTO movie VALUES (1, 'Sicario', 2015, 7.6), (2, 'Stalker', 1979, 8.1), (3, 'Her', 2013, NULL);
SELECT * FROM movie WHERE year > 2000 ORDER BY id;
UPDATE movie SET rating = 8.0 WHERE id = 3;
DELETE FROM movie WHERE id = 2;
SELECT * FROM movie ORDER BY id;
BEGIN;
INSERT INTO movie VALUES (4, 'Arrival', 2016, 7.9);
SELECT count(*) FROM movie;   -- the transaction sees its own row
ROLLBACK;
SELECT * FROM movie ORDER BY id;   -- row 4 never appears
COPY movie FROM STDIN;
5	Solaris	1972	8.0
6	Heat	1995	8.3
\.
SELECT * FROM movie ORDER BY id;
SELECT count(*), min(year), max(rating) FROM movie;
-- NOT NULL is Postgres's job and still holds
INSERT INTO movie VALUES (7, NULL, 2000, 1.0);
-- ctid is the row id: stable across UPDATE
SELECT ctid FROM movie WHERE id = 1;
UPDATE movie SET year = year + 0 WHERE id = 1;
SELECT ctid FROM movie WHERE id = 1;
SELECT title FROM movie WHERE ctid = (SELECT ctid FROM movie WHERE id = 5);
TRUNCATE movie;
SELECT count(*) FROM movie;
DROP TABLE movie;
-- default_table_access_method makes plain CREATE TABLE a Lyra table
SET default_table_access_method = lyra;
CREATE TABLE plain (a int);
SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 'plain';
INSERT INTO plain SELECT generate_series(1, 1000);
SELECT count(*), sum(a) FROM plain;
DROP TABLE plain;
RESET default_table_access_method;

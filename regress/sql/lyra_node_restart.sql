-- The node is a background worker. If it stops, a backend talking to it
-- gets a clear error (SQLSTATE 08006), not a hang or a crash; the
-- postmaster restarts the node and the next statement works again.
\set VERBOSITY terse
CREATE TABLE nr (id int) USING lyra;
INSERT INTO nr VALUES (1);
SELECT count(*) FROM nr;   -- this backend is now connected to the node
-- stop the node (scripts/regress.sh exports the data directory)
\! kill -TERM $(cat "$LYRA_REGRESS_DATA/lyra/node.pid")
SELECT pg_sleep(0.5);
SELECT count(*) FROM nr;   -- the connection was lost
SELECT count(*) FROM nr;   -- reconnects once the node is back
INSERT INTO nr VALUES (2);
SELECT * FROM nr ORDER BY id;
DROP TABLE nr;

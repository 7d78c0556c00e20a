-- Schema lyra's admin functions on a single node (the cluster test,
-- scripts/cluster_test.sh, covers three and four nodes).
\set VERBOSITY terse
SELECT node_id, address, is_local, decommissioned FROM lyra.nodes();
-- One range holds every key; this node holds its replica and its lease,
-- and the range's descriptor in the catalog (written by its leader,
-- within a second of its start) says so too.
SELECT count(*) AS ranges, bool_and(replica_here) AS here, bool_and(lease_here) AS leased,
       bool_and(voters = '{1}' AND leader = 1) AS one_voter, bool_and(size_bytes > 0) AS sized,
       bool_and(applied_index >= 1 AND commit_index >= applied_index) AS indexes
  FROM lyra.ranges();
SELECT range_id = 1 AS first, start_key, end_key FROM lyra.ranges();
-- The catalog (keys below 'n') stays in range 1: a split there is refused.
SELECT lyra.split_range('\x6d61'::bytea);
-- A split where the KV keyspace ('w') begins, found by key: SQL data ('v')
-- stays in range 1; both ranges are served here.
CREATE TABLE adm (id int PRIMARY KEY, v text) USING lyra;
INSERT INTO adm SELECT g, 'v' || g FROM generate_series(1, 100) g;
SELECT lyra.split_range('\x77'::bytea) > 1 AS split;
-- The new range elects its leader and earns its lease within moments.
DO $$ BEGIN
  FOR i IN 1..100 LOOP
    EXIT WHEN (SELECT bool_and(lease_here) FROM lyra.ranges());
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT count(*) AS ranges, bool_and(replica_here AND lease_here) AS served,
       string_agg(encode(start_key, 'escape') || '..' || coalesce(encode(end_key, 'escape'), ''), ' ' ORDER BY start_key) AS spans
  FROM lyra.ranges();
SELECT lyra.split_range('\x77'::bytea);   -- a range's first key: nothing to split
INSERT INTO adm VALUES (101, 'after');
SELECT count(*), max(id) FROM adm;
-- Changes are for superusers and lyra_admin only; reading is for anyone.
CREATE ROLE adm_reader;
SET ROLE adm_reader;
SELECT count(*) > 0 AS can_read FROM lyra.ranges();
SELECT lyra.split_range('\x78'::bytea);
SELECT lyra.transfer_lease(1, 1);
RESET ROLE;
DROP ROLE adm_reader;
-- Unknown ranges and nodes are errors, not hangs.
SELECT lyra.transfer_lease(12345, 1);
SELECT lyra.add_replica(1, 7);
-- A node alone (no lyra.listen_addr) has no cluster to add a node to.
SELECT lyra.add_node('127.0.0.1:1');
DROP TABLE adm;

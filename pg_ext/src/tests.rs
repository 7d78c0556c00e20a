//! In-backend tests (`cargo pgrx test`): the table AM inside one
//! transaction, where reads merge the write buffer over the node.

#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn count(sql: &str) -> i64 {
        Spi::get_one::<i64>(sql).expect("query runs").expect("count is never NULL")
    }

    #[pg_test]
    fn a_transaction_reads_its_own_writes() {
        Spi::run("CREATE TABLE t (a int, b text) USING lyra").unwrap();
        Spi::run("INSERT INTO t SELECT g, g::text FROM generate_series(1, 1000) g").unwrap();
        assert_eq!(count("SELECT count(*) FROM t"), 1000);
        Spi::run("UPDATE t SET b = 'x' WHERE a % 2 = 0").unwrap();
        Spi::run("DELETE FROM t WHERE a > 900").unwrap();
        assert_eq!(count("SELECT count(*) FROM t WHERE b = 'x'"), 450);
        assert_eq!(count("SELECT count(*) FROM t"), 900);
    }

    #[pg_test]
    fn row_ids_are_tids_and_survive_update() {
        Spi::run("CREATE TABLE r (a int) USING lyra").unwrap();
        Spi::run("INSERT INTO r VALUES (1), (2)").unwrap();
        let tid = Spi::get_one::<String>("SELECT ctid::text FROM r WHERE a = 1").unwrap();
        assert_eq!(tid.as_deref(), Some("(0,1)"));
        Spi::run("UPDATE r SET a = 10 WHERE a = 1").unwrap();
        let tid = Spi::get_one::<String>("SELECT ctid::text FROM r WHERE a = 10").unwrap();
        assert_eq!(tid.as_deref(), Some("(0,1)"));
    }

    #[pg_test]
    fn a_statement_does_not_read_its_own_inserts() {
        Spi::run("CREATE TABLE h (a int) USING lyra").unwrap();
        Spi::run("INSERT INTO h SELECT generate_series(1, 10)").unwrap();
        Spi::run("INSERT INTO h SELECT a + 10 FROM h").unwrap();
        assert_eq!(count("SELECT count(*) FROM h"), 20);
    }

    #[pg_test]
    fn truncate_in_the_creating_transaction_empties_the_table() {
        Spi::run("CREATE TABLE tr (a int) USING lyra").unwrap();
        Spi::run("INSERT INTO tr VALUES (1), (2)").unwrap();
        Spi::run("TRUNCATE tr").unwrap();
        Spi::run("INSERT INTO tr VALUES (3)").unwrap();
        assert_eq!(count("SELECT sum(a) FROM tr"), 3);
    }

    #[pg_test]
    fn an_index_rebuilt_by_truncate_in_the_creating_transaction_forgets_old_entries() {
        Spi::run("CREATE TABLE ti (a int PRIMARY KEY) USING lyra").unwrap();
        Spi::run("INSERT INTO ti VALUES (1), (2)").unwrap();
        Spi::run("TRUNCATE ti").unwrap();
        // A stale entry for 1 would make this a duplicate key.
        Spi::run("INSERT INTO ti VALUES (1)").unwrap();
        Spi::run("SET LOCAL enable_seqscan = off").unwrap();
        assert_eq!(count("SELECT count(*) FROM ti WHERE a = 1"), 1);
        assert_eq!(count("SELECT count(*) FROM ti WHERE a = 2"), 0);
    }

    /// A lyra_index built before extension 0.9.0 keyed text under an ICU
    /// collation by its bytes; it must go on reading them so (equality
    /// only: the planner sorts), not as sort keys.
    #[pg_test]
    fn an_index_with_byte_keys_under_an_icu_collation_keeps_them() {
        Spi::run("CREATE TABLE older (w text COLLATE \"de-x-icu\") USING lyra").unwrap();
        Spi::run("CREATE INDEX older_w ON older (w)").unwrap();
        unsafe {
            let index = pg_sys::RelationIdGetRelation(Spi::get_one::<pg_sys::Oid>("SELECT 'older_w'::regclass::oid").unwrap().unwrap());
            let table = crate::table::table_id(index);
            crate::table::rewrite_mapping(index, crate::table::Mapping { table, format: crate::table::KeyFormat::Bytes });
            pg_sys::RelationClose(index);
        }
        // Rebuilt on the same relfilenode (created in this transaction):
        // the mapping, and so the byte keys, stay.
        Spi::run("TRUNCATE older").unwrap();
        Spi::run("INSERT INTO older VALUES ('b'), ('B'), ('Äpfel'), ('a'), ('zebra'), ('apfel')").unwrap();
        Spi::run("SET LOCAL enable_seqscan = off").unwrap();
        let order = Spi::get_one::<String>("SELECT string_agg(w, ',') FROM (SELECT w FROM older ORDER BY w) s");
        assert_eq!(order.unwrap().as_deref(), Some("a,apfel,Äpfel,b,B,zebra"));
        let plan = Spi::get_one::<String>("EXPLAIN (COSTS OFF) SELECT w FROM older ORDER BY w").unwrap().unwrap();
        assert!(plan.starts_with("Sort"), "byte keys give no collation order: {plan}");
        assert_eq!(count("SELECT count(*) FROM older WHERE w = 'B'"), 1);
        assert_eq!(count("SELECT count(*) FROM older WHERE w > 'apfel' AND w < 'b'"), 1);
        // A rebuild to a new relfilenode keys by sort key, and orders.
        Spi::run("REINDEX INDEX older_w").unwrap();
        let plan = Spi::get_one::<String>("EXPLAIN (COSTS OFF) SELECT w FROM older ORDER BY w").unwrap().unwrap();
        assert!(!plan.starts_with("Sort"), "sort keys give the order: {plan}");
        let order = Spi::get_one::<String>("SELECT string_agg(w, ',') FROM (SELECT w FROM older ORDER BY w) s");
        assert_eq!(order.unwrap().as_deref(), Some("a,apfel,Äpfel,b,B,zebra"));
    }

    #[pg_test(error = "access method \"brin\" is not supported for indexes on lyra tables; use lyra_index (the default), gin, gist or spgist")]
    fn other_index_methods_are_refused_clearly() {
        Spi::run("CREATE TABLE i (a int) USING lyra").unwrap();
        Spi::run("CREATE INDEX ON i USING brin (a)").unwrap();
    }

    #[pg_test]
    fn a_hash_index_becomes_a_lyra_index() {
        Spi::run("CREATE TABLE h (a int) USING lyra").unwrap();
        Spi::run("CREATE INDEX h_a ON h USING hash (a)").unwrap();
        let am = Spi::get_one::<String>("SELECT a.amname::text FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.relname = 'h_a'");
        assert_eq!(am.unwrap().as_deref(), Some("lyra_index"));
    }
}

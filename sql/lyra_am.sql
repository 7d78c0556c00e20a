-- The table access method `lyra`: tables created `USING lyra` (or with
-- default_table_access_method = lyra) are stored in the Lyra engine.
CREATE FUNCTION lyra_tam_handler(internal) RETURNS table_am_handler
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'lyra_tam_handler';

CREATE ACCESS METHOD lyra TYPE TABLE HANDLER lyra_tam_handler;

COMMENT ON ACCESS METHOD lyra IS 'Lyra: rows stored in the replicated, transactional Lyra engine';

-- The index access method `lyra_index`: every index on a Lyra table is
-- stored in the engine (the utility hook picks it for CREATE INDEX,
-- PRIMARY KEY and UNIQUE on Lyra tables). Its operator classes are named
-- like btree's and reuse btree's operators and functions; the engine's key
-- encoding orders values the way these operators do (see pg_ext/src/index).
-- A new index is bound to btree's class of the same name once created
-- (pg_ext/src/index/btree_classes.rs): foreign keys require btree's.
CREATE FUNCTION lyra_index_handler(internal) RETURNS index_am_handler
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'lyra_index_handler';

CREATE ACCESS METHOD lyra_index TYPE INDEX HANDLER lyra_index_handler;

COMMENT ON ACCESS METHOD lyra_index IS 'Lyra: index entries stored in the Lyra engine';

CREATE OPERATOR FAMILY integer_ops USING lyra_index;
CREATE OPERATOR CLASS int2_ops DEFAULT FOR TYPE int2 USING lyra_index FAMILY integer_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btint2cmp(int2, int2);
CREATE OPERATOR CLASS int4_ops DEFAULT FOR TYPE int4 USING lyra_index FAMILY integer_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btint4cmp(int4, int4);
CREATE OPERATOR CLASS int8_ops DEFAULT FOR TYPE int8 USING lyra_index FAMILY integer_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btint8cmp(int8, int8);
ALTER OPERATOR FAMILY integer_ops USING lyra_index ADD
    OPERATOR 1 < (int2, int4),
    OPERATOR 2 <= (int2, int4),
    OPERATOR 3 = (int2, int4),
    OPERATOR 4 >= (int2, int4),
    OPERATOR 5 > (int2, int4),
    FUNCTION 1 (int2, int4) btint24cmp(int2, int4);
ALTER OPERATOR FAMILY integer_ops USING lyra_index ADD
    OPERATOR 1 < (int2, int8),
    OPERATOR 2 <= (int2, int8),
    OPERATOR 3 = (int2, int8),
    OPERATOR 4 >= (int2, int8),
    OPERATOR 5 > (int2, int8),
    FUNCTION 1 (int2, int8) btint28cmp(int2, int8);
ALTER OPERATOR FAMILY integer_ops USING lyra_index ADD
    OPERATOR 1 < (int4, int2),
    OPERATOR 2 <= (int4, int2),
    OPERATOR 3 = (int4, int2),
    OPERATOR 4 >= (int4, int2),
    OPERATOR 5 > (int4, int2),
    FUNCTION 1 (int4, int2) btint42cmp(int4, int2);
ALTER OPERATOR FAMILY integer_ops USING lyra_index ADD
    OPERATOR 1 < (int4, int8),
    OPERATOR 2 <= (int4, int8),
    OPERATOR 3 = (int4, int8),
    OPERATOR 4 >= (int4, int8),
    OPERATOR 5 > (int4, int8),
    FUNCTION 1 (int4, int8) btint48cmp(int4, int8);
ALTER OPERATOR FAMILY integer_ops USING lyra_index ADD
    OPERATOR 1 < (int8, int2),
    OPERATOR 2 <= (int8, int2),
    OPERATOR 3 = (int8, int2),
    OPERATOR 4 >= (int8, int2),
    OPERATOR 5 > (int8, int2),
    FUNCTION 1 (int8, int2) btint82cmp(int8, int2);
ALTER OPERATOR FAMILY integer_ops USING lyra_index ADD
    OPERATOR 1 < (int8, int4),
    OPERATOR 2 <= (int8, int4),
    OPERATOR 3 = (int8, int4),
    OPERATOR 4 >= (int8, int4),
    OPERATOR 5 > (int8, int4),
    FUNCTION 1 (int8, int4) btint84cmp(int8, int4);

CREATE OPERATOR FAMILY float_ops USING lyra_index;
CREATE OPERATOR CLASS float4_ops DEFAULT FOR TYPE float4 USING lyra_index FAMILY float_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btfloat4cmp(float4, float4);
CREATE OPERATOR CLASS float8_ops DEFAULT FOR TYPE float8 USING lyra_index FAMILY float_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btfloat8cmp(float8, float8);
ALTER OPERATOR FAMILY float_ops USING lyra_index ADD
    OPERATOR 1 < (float4, float8),
    OPERATOR 2 <= (float4, float8),
    OPERATOR 3 = (float4, float8),
    OPERATOR 4 >= (float4, float8),
    OPERATOR 5 > (float4, float8),
    FUNCTION 1 (float4, float8) btfloat48cmp(float4, float8);
ALTER OPERATOR FAMILY float_ops USING lyra_index ADD
    OPERATOR 1 < (float8, float4),
    OPERATOR 2 <= (float8, float4),
    OPERATOR 3 = (float8, float4),
    OPERATOR 4 >= (float8, float4),
    OPERATOR 5 > (float8, float4),
    FUNCTION 1 (float8, float4) btfloat84cmp(float8, float4);

CREATE OPERATOR FAMILY oid_ops USING lyra_index;
CREATE OPERATOR CLASS oid_ops DEFAULT FOR TYPE oid USING lyra_index FAMILY oid_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btoidcmp(oid, oid);

CREATE OPERATOR FAMILY bool_ops USING lyra_index;
CREATE OPERATOR CLASS bool_ops DEFAULT FOR TYPE bool USING lyra_index FAMILY bool_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btboolcmp(bool, bool);

CREATE OPERATOR FAMILY text_ops USING lyra_index;
CREATE OPERATOR CLASS text_ops DEFAULT FOR TYPE text USING lyra_index FAMILY text_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 bttextcmp(text, text);

CREATE OPERATOR FAMILY bpchar_ops USING lyra_index;
CREATE OPERATOR CLASS bpchar_ops DEFAULT FOR TYPE bpchar USING lyra_index FAMILY bpchar_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 bpcharcmp(bpchar, bpchar);

CREATE OPERATOR FAMILY name_ops USING lyra_index;
CREATE OPERATOR CLASS name_ops DEFAULT FOR TYPE name USING lyra_index FAMILY name_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btnamecmp(name, name);

CREATE OPERATOR FAMILY bytea_ops USING lyra_index;
CREATE OPERATOR CLASS bytea_ops DEFAULT FOR TYPE bytea USING lyra_index FAMILY bytea_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 byteacmp(bytea, bytea);

CREATE OPERATOR FAMILY date_ops USING lyra_index;
CREATE OPERATOR CLASS date_ops DEFAULT FOR TYPE date USING lyra_index FAMILY date_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 date_cmp(date, date);

CREATE OPERATOR FAMILY time_ops USING lyra_index;
CREATE OPERATOR CLASS time_ops DEFAULT FOR TYPE time USING lyra_index FAMILY time_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 time_cmp(time, time);

CREATE OPERATOR FAMILY timestamp_ops USING lyra_index;
CREATE OPERATOR CLASS timestamp_ops DEFAULT FOR TYPE timestamp USING lyra_index FAMILY timestamp_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 timestamp_cmp(timestamp, timestamp);

CREATE OPERATOR FAMILY timestamptz_ops USING lyra_index;
CREATE OPERATOR CLASS timestamptz_ops DEFAULT FOR TYPE timestamptz USING lyra_index FAMILY timestamptz_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 timestamptz_cmp(timestamptz, timestamptz);

CREATE OPERATOR FAMILY uuid_ops USING lyra_index;
CREATE OPERATOR CLASS uuid_ops DEFAULT FOR TYPE uuid USING lyra_index FAMILY uuid_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 uuid_cmp(uuid, uuid);

-- Byte-order ("pattern") classes, for LIKE prefixes under any collation.
CREATE OPERATOR FAMILY text_pattern_ops USING lyra_index;
CREATE OPERATOR CLASS text_pattern_ops FOR TYPE text USING lyra_index FAMILY text_pattern_ops AS
    OPERATOR 1 ~<~,
    OPERATOR 2 ~<=~,
    OPERATOR 3 =,
    OPERATOR 4 ~>=~,
    OPERATOR 5 ~>~,
    FUNCTION 1 bttext_pattern_cmp(text, text);
-- btree's varchar_pattern_ops: text_pattern_ops's operators under another name.
CREATE OPERATOR CLASS varchar_pattern_ops FOR TYPE text USING lyra_index FAMILY text_pattern_ops AS
    STORAGE text;
CREATE OPERATOR FAMILY bpchar_pattern_ops USING lyra_index;
CREATE OPERATOR CLASS bpchar_pattern_ops FOR TYPE bpchar USING lyra_index FAMILY bpchar_pattern_ops AS
    OPERATOR 1 ~<~,
    OPERATOR 2 ~<=~,
    OPERATOR 3 =,
    OPERATOR 4 ~>=~,
    OPERATOR 5 ~>~,
    FUNCTION 1 btbpchar_pattern_cmp(bpchar, bpchar);

-- upgrade 0.1.0--0.2.0 begin
-- lyra 0.1.0 -> 0.2.0: operator classes for the key types lyra_index
-- encodes since 0.2.0 (ALTER EXTENSION lyra UPDATE; `make run` runs it).
-- scripts/setup.sh installs this section as lyra--0.1.0--0.2.0.sql.
-- More types, each encoded in its btree order (pg_ext/src/index/entry.rs);
-- enum values by their label's OID: equality, not order (ALTER TYPE … ADD VALUE
-- may renumber the labels' order).
CREATE OPERATOR FAMILY numeric_ops USING lyra_index;
CREATE OPERATOR CLASS numeric_ops DEFAULT FOR TYPE numeric USING lyra_index FAMILY numeric_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 numeric_cmp(numeric, numeric);
CREATE OPERATOR FAMILY network_ops USING lyra_index;
CREATE OPERATOR CLASS inet_ops DEFAULT FOR TYPE inet USING lyra_index FAMILY network_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 network_cmp(inet, inet);
CREATE OPERATOR FAMILY macaddr_ops USING lyra_index;
CREATE OPERATOR CLASS macaddr_ops DEFAULT FOR TYPE macaddr USING lyra_index FAMILY macaddr_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 macaddr_cmp(macaddr, macaddr);
CREATE OPERATOR FAMILY macaddr8_ops USING lyra_index;
CREATE OPERATOR CLASS macaddr8_ops DEFAULT FOR TYPE macaddr8 USING lyra_index FAMILY macaddr8_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 macaddr8_cmp(macaddr8, macaddr8);
CREATE OPERATOR FAMILY interval_ops USING lyra_index;
CREATE OPERATOR CLASS interval_ops DEFAULT FOR TYPE interval USING lyra_index FAMILY interval_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 interval_cmp(interval, interval);
CREATE OPERATOR FAMILY xid8_ops USING lyra_index;
CREATE OPERATOR CLASS xid8_ops DEFAULT FOR TYPE xid8 USING lyra_index FAMILY xid8_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 xid8cmp(xid8, xid8);
CREATE OPERATOR FAMILY pg_lsn_ops USING lyra_index;
CREATE OPERATOR CLASS pg_lsn_ops DEFAULT FOR TYPE pg_lsn USING lyra_index FAMILY pg_lsn_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 pg_lsn_cmp(pg_lsn, pg_lsn);
CREATE OPERATOR FAMILY money_ops USING lyra_index;
CREATE OPERATOR CLASS money_ops DEFAULT FOR TYPE money USING lyra_index FAMILY money_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 cash_cmp(money, money);
CREATE OPERATOR FAMILY char_ops USING lyra_index;
CREATE OPERATOR CLASS char_ops DEFAULT FOR TYPE "char" USING lyra_index FAMILY char_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btcharcmp("char", "char");
CREATE OPERATOR FAMILY timetz_ops USING lyra_index;
CREATE OPERATOR CLASS timetz_ops DEFAULT FOR TYPE timetz USING lyra_index FAMILY timetz_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 timetz_cmp(timetz, timetz);
CREATE OPERATOR FAMILY tid_ops USING lyra_index;
CREATE OPERATOR CLASS tid_ops DEFAULT FOR TYPE tid USING lyra_index FAMILY tid_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 bttidcmp(tid, tid);
CREATE OPERATOR FAMILY enum_ops USING lyra_index;
CREATE OPERATOR CLASS enum_ops DEFAULT FOR TYPE anyenum USING lyra_index FAMILY enum_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 enum_cmp(anyenum, anyenum);
-- btree's cidr_ops: network_ops for cidr columns by that name.
CREATE OPERATOR CLASS cidr_ops FOR TYPE inet USING lyra_index FAMILY network_ops AS
    STORAGE inet;
-- upgrade 0.1.0--0.2.0 end

-- upgrade 0.2.0--0.3.0 begin
-- lyra 0.2.0 -> 0.3.0: admin functions (pg_ext/src/admin.rs).
-- scripts/setup.sh installs this section as lyra--0.2.0--0.3.0.sql.
CREATE FUNCTION nodes() RETURNS TABLE (node_id bigint, address text, is_local boolean, decommissioned boolean)
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'lyra_nodes_wrapper';
COMMENT ON FUNCTION nodes() IS 'The nodes of this node''s Lyra cluster.';
CREATE FUNCTION ranges() RETURNS TABLE (
    range_id bigint, start_key bytea, end_key bytea, voters bigint[], leader bigint,
    lease_here boolean, term bigint, applied_index bigint, commit_index bigint)
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'lyra_ranges_wrapper';
COMMENT ON FUNCTION ranges() IS 'This node''s replicas of Lyra ranges.';
CREATE FUNCTION transfer_lease(range_id bigint, node_id bigint) RETURNS void
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'lyra_transfer_lease_wrapper';
COMMENT ON FUNCTION transfer_lease(bigint, bigint) IS
    'Moves a range''s lease to another of its voters (superuser or lyra_admin).';
CREATE FUNCTION add_replica(range_id bigint, node_id bigint) RETURNS void
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'lyra_add_replica_wrapper';
COMMENT ON FUNCTION add_replica(bigint, bigint) IS
    'Adds a node as a voter of a range (superuser or lyra_admin).';
CREATE FUNCTION remove_replica(range_id bigint, node_id bigint) RETURNS void
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'lyra_remove_replica_wrapper';
COMMENT ON FUNCTION remove_replica(bigint, bigint) IS
    'Removes a node from a range''s voters (superuser or lyra_admin).';
CREATE FUNCTION split_range(range_id bigint, key bytea) RETURNS bigint
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'lyra_split_range_wrapper';
COMMENT ON FUNCTION split_range(bigint, bytea) IS
    'Splits a range at a key; returns the new range (superuser or lyra_admin).';
CREATE FUNCTION decommission_node(node_id bigint) RETURNS void
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'lyra_decommission_node_wrapper';
COMMENT ON FUNCTION decommission_node(bigint) IS
    'Moves every replica off a node, which takes no new ones (superuser or lyra_admin).';
-- upgrade 0.2.0--0.3.0 end

-- upgrade 0.3.0--0.4.0 begin
-- lyra 0.3.0 -> 0.4.0: lyra.ranges() lists every range of the cluster (this
-- node's replicas, and the others from range 1's descriptors), with the
-- bytes each holds here; lyra.split_range(key) finds the range itself;
-- the schema is usable by everyone.
DROP FUNCTION ranges();
CREATE FUNCTION ranges() RETURNS TABLE (
    range_id bigint, start_key bytea, end_key bytea, voters bigint[], leader bigint,
    lease_here boolean, term bigint, applied_index bigint, commit_index bigint,
    replica_here boolean, size_bytes bigint)
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'lyra_ranges_wrapper';
COMMENT ON FUNCTION ranges() IS
    'Every range of the Lyra cluster: this node''s replicas, and the others as range 1''s descriptors say.';
CREATE FUNCTION split_range(key bytea) RETURNS bigint
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'lyra_split_range_at_wrapper';
COMMENT ON FUNCTION split_range(bytea) IS
    'Splits the range holding a key at that key; returns the new range (superuser or lyra_admin).';
CREATE FUNCTION add_node(address text) RETURNS bigint
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'lyra_add_node_wrapper';
COMMENT ON FUNCTION add_node(text) IS
    'Adds the node waiting at a gRPC address (lyra.join = ''wait'') to this cluster; returns its id (superuser or lyra_admin).';
-- Anyone may read the cluster's state (nodes(), ranges()); the functions
-- that change it check for a superuser or lyra_admin themselves.
GRANT USAGE ON SCHEMA lyra TO PUBLIC;
-- upgrade 0.3.0--0.4.0 end

-- upgrade 0.4.0--0.5.0 begin
-- lyra 0.4.0 -> 0.5.0: keys of array and composite types (any array, any
-- composite type, and domains over them), of jsonb and of ranges and
-- multiranges, as btree's array_ops, record_ops, jsonb_ops, range_ops and
-- multirange_ops. Their entries are equal exactly
-- when the values are; they serve equality (unique constraints, lookups by
-- key), not order.
CREATE OPERATOR FAMILY array_ops USING lyra_index;
CREATE OPERATOR CLASS array_ops DEFAULT FOR TYPE anyarray USING lyra_index FAMILY array_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btarraycmp(anyarray, anyarray);
CREATE OPERATOR FAMILY record_ops USING lyra_index;
CREATE OPERATOR CLASS record_ops DEFAULT FOR TYPE record USING lyra_index FAMILY record_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btrecordcmp(record, record);
CREATE OPERATOR FAMILY jsonb_ops USING lyra_index;
CREATE OPERATOR CLASS jsonb_ops DEFAULT FOR TYPE jsonb USING lyra_index FAMILY jsonb_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 jsonb_cmp(jsonb, jsonb);
CREATE OPERATOR FAMILY range_ops USING lyra_index;
CREATE OPERATOR CLASS range_ops DEFAULT FOR TYPE anyrange USING lyra_index FAMILY range_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 range_cmp(anyrange, anyrange);
CREATE OPERATOR FAMILY multirange_ops USING lyra_index;
CREATE OPERATOR CLASS multirange_ops DEFAULT FOR TYPE anymultirange USING lyra_index FAMILY multirange_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 multirange_cmp(anymultirange, anymultirange);
-- upgrade 0.4.0--0.5.0 end

-- upgrade 0.5.0--0.6.0 begin
-- lyra 0.5.0 -> 0.6.0: inverted indexes. `CREATE INDEX … USING gin` on a
-- lyra table makes a lyra_gin index: GIN's own operator classes (arrays,
-- jsonb, tsvector, and those of extensions) extract the keys, the entries
-- (key, row) live in the engine, written with the row.
CREATE FUNCTION lyra_gin_handler(internal) RETURNS index_am_handler
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'lyra_gin_handler';
CREATE ACCESS METHOD lyra_gin TYPE INDEX HANDLER lyra_gin_handler;
COMMENT ON ACCESS METHOD lyra_gin IS 'Lyra: inverted index (GIN''s operator classes), entries stored in the Lyra engine';
-- GIN's classes of the core types, again for lyra_gin: an index made with
-- GIN's is bound to these (by name), so the definition Postgres prints and
-- rebuilds it from (ALTER COLUMN … TYPE, pg_dump) names lyra_gin's.
CREATE OPERATOR CLASS array_ops DEFAULT FOR TYPE anyarray USING lyra_gin AS
    OPERATOR 1 &&(anyarray, anyarray),
    OPERATOR 2 @>(anyarray, anyarray),
    OPERATOR 3 <@(anyarray, anyarray),
    OPERATOR 4 =(anyarray, anyarray),
    FUNCTION 2 ginarrayextract(anyarray, internal, internal),
    FUNCTION 3 ginqueryarrayextract(anyarray, internal, int2, internal, internal, internal, internal),
    FUNCTION 4 ginarrayconsistent(internal, int2, anyarray, int4, internal, internal, internal, internal),
    FUNCTION 6 ginarraytriconsistent(internal, int2, anyarray, int4, internal, internal, internal),
    STORAGE anyelement;
CREATE OPERATOR CLASS tsvector_ops DEFAULT FOR TYPE tsvector USING lyra_gin AS
    OPERATOR 1 @@(tsvector, tsquery),
    OPERATOR 2 @@@(tsvector, tsquery),
    FUNCTION 1 gin_cmp_tslexeme(text, text),
    FUNCTION 2 gin_extract_tsvector(tsvector, internal, internal),
    FUNCTION 3 gin_extract_tsquery(tsvector, internal, int2, internal, internal, internal, internal),
    FUNCTION 4 gin_tsquery_consistent(internal, int2, tsvector, int4, internal, internal, internal, internal),
    FUNCTION 5 gin_cmp_prefix(text, text, int2, internal),
    FUNCTION 6 gin_tsquery_triconsistent(internal, int2, tsvector, int4, internal, internal, internal),
    STORAGE text;
CREATE OPERATOR CLASS jsonb_ops DEFAULT FOR TYPE jsonb USING lyra_gin AS
    OPERATOR 7 @>(jsonb, jsonb),
    OPERATOR 9 ?(jsonb, text),
    OPERATOR 10 ?|(jsonb, text[]),
    OPERATOR 11 ?&(jsonb, text[]),
    OPERATOR 15 @?(jsonb, jsonpath),
    OPERATOR 16 @@(jsonb, jsonpath),
    FUNCTION 1 gin_compare_jsonb(text, text),
    FUNCTION 2 gin_extract_jsonb(jsonb, internal, internal),
    FUNCTION 3 gin_extract_jsonb_query(jsonb, internal, int2, internal, internal, internal, internal),
    FUNCTION 4 gin_consistent_jsonb(internal, int2, jsonb, int4, internal, internal, internal, internal),
    FUNCTION 6 gin_triconsistent_jsonb(internal, int2, jsonb, int4, internal, internal, internal),
    STORAGE text;
CREATE OPERATOR CLASS jsonb_path_ops FOR TYPE jsonb USING lyra_gin AS
    OPERATOR 7 @>(jsonb, jsonb),
    OPERATOR 15 @?(jsonb, jsonpath),
    OPERATOR 16 @@(jsonb, jsonpath),
    FUNCTION 1 btint4cmp(int4, int4),
    FUNCTION 2 gin_extract_jsonb_path(jsonb, internal, internal),
    FUNCTION 3 gin_extract_jsonb_query_path(jsonb, internal, int2, internal, internal, internal, internal),
    FUNCTION 4 gin_consistent_jsonb_path(internal, int2, jsonb, int4, internal, internal, internal, internal),
    FUNCTION 6 gin_triconsistent_jsonb_path(internal, int2, jsonb, int4, internal, internal, internal),
    STORAGE int4;
-- upgrade 0.5.0--0.6.0 end

-- upgrade 0.6.0--0.7.0 begin
-- lyra 0.6.0 -> 0.7.0: bit strings as lyra_index keys (btree's bit_ops and
-- varbit_ops), encoded in bit_cmp's order (pg_ext/src/index/entry.rs).
-- scripts/setup.sh installs this section as lyra--0.6.0--0.7.0.sql.
CREATE OPERATOR FAMILY bit_ops USING lyra_index;
CREATE OPERATOR CLASS bit_ops DEFAULT FOR TYPE bit USING lyra_index FAMILY bit_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 bitcmp(bit, bit);

CREATE OPERATOR FAMILY varbit_ops USING lyra_index;
CREATE OPERATOR CLASS varbit_ops DEFAULT FOR TYPE varbit USING lyra_index FAMILY varbit_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 varbitcmp(varbit, varbit);
-- upgrade 0.6.0--0.7.0 end

-- upgrade 0.7.0--0.8.0 begin
-- lyra 0.7.0 -> 0.8.0: GiST and SP-GiST on lyra tables. `CREATE INDEX …
-- USING gist` (spgist) on a lyra table makes a lyra_gist (lyra_spgist)
-- index: its entries (the row's indexed values, row id) live in the
-- engine, written with the row; a scan evaluates the operators on them
-- (pg_ext/src/index/gist.rs). scripts/setup.sh installs this section as
-- lyra--0.7.0--0.8.0.sql.
CREATE FUNCTION lyra_gist_handler(internal) RETURNS index_am_handler
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'lyra_gist_handler';
CREATE ACCESS METHOD lyra_gist TYPE INDEX HANDLER lyra_gist_handler;
COMMENT ON ACCESS METHOD lyra_gist IS 'Lyra: GiST''s operator classes, entries stored in the Lyra engine';
CREATE FUNCTION lyra_spgist_handler(internal) RETURNS index_am_handler
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'lyra_spgist_handler';
CREATE ACCESS METHOD lyra_spgist TYPE INDEX HANDLER lyra_spgist_handler;
COMMENT ON ACCESS METHOD lyra_spgist IS 'Lyra: SP-GiST''s operator classes, entries stored in the Lyra engine';
-- GiST's and SP-GiST's classes of the core types, again for lyra_gist and
-- lyra_spgist, copied from the catalog (same names, members, storage
-- types, defaults): an index made with GiST's is bound to these, so the
-- definition Postgres prints and rebuilds it from (ALTER COLUMN … TYPE,
-- pg_dump) names lyra_gist's. The support functions come too: an index's
-- class options (tsvector_ops(siglen)) are parsed by the class's own.
DO $$
DECLARE
    method record;
    family record;
    class record;
    items text;
BEGIN
    FOR method IN SELECT * FROM (VALUES ('gist', 'lyra_gist'), ('spgist', 'lyra_spgist')) AS m(postgres, lyra) LOOP
        FOR family IN
            SELECT f.oid, f.opfname FROM pg_opfamily f JOIN pg_am a ON a.oid = f.opfmethod
            WHERE a.amname = method.postgres AND f.opfnamespace = 'pg_catalog'::regnamespace ORDER BY f.opfname
        LOOP
            EXECUTE format('CREATE OPERATOR FAMILY lyra.%I USING %I', family.opfname, method.lyra);
            -- The family's members, all given to its (one) class.
            SELECT string_agg(item, ', ' ORDER BY kind, number, item) INTO items FROM (
                SELECT 1 AS kind, o.amopstrategy AS number,
                       format('OPERATOR %s %s.%s(%s, %s)%s', o.amopstrategy, n.nspname, op.oprname,
                              format_type(o.amoplefttype, NULL), format_type(o.amoprighttype, NULL),
                              CASE WHEN o.amoppurpose = 'o' THEN
                                  format(' FOR ORDER BY %I.%I', sn.nspname, sf.opfname) ELSE '' END) AS item
                FROM pg_amop o JOIN pg_operator op ON op.oid = o.amopopr
                JOIN pg_namespace n ON n.oid = op.oprnamespace
                LEFT JOIN pg_opfamily sf ON sf.oid = o.amopsortfamily
                LEFT JOIN pg_namespace sn ON sn.oid = sf.opfnamespace
                WHERE o.amopfamily = family.oid
                UNION ALL
                SELECT 2, p.amprocnum, format('FUNCTION %s (%s, %s) %s', p.amprocnum,
                       format_type(p.amproclefttype, NULL), format_type(p.amprocrighttype, NULL),
                       p.amproc::regprocedure)
                FROM pg_amproc p WHERE p.amprocfamily = family.oid
            ) AS members;
            FOR class IN
                SELECT c.opcname, c.opcintype, c.opckeytype, c.opcdefault FROM pg_opclass c
                WHERE c.opcfamily = family.oid ORDER BY c.opcname
            LOOP
                EXECUTE format('CREATE OPERATOR CLASS lyra.%I %s FOR TYPE %s USING %I FAMILY lyra.%I AS %s',
                    class.opcname, CASE WHEN class.opcdefault THEN 'DEFAULT' ELSE '' END,
                    format_type(class.opcintype, NULL), method.lyra, family.opfname,
                    concat_ws(', ', items, CASE WHEN class.opckeytype <> 0 THEN
                        'STORAGE ' || format_type(class.opckeytype, NULL) END));
                items := NULL;
            END LOOP;
        END LOOP;
    END LOOP;
END
$$;
-- upgrade 0.7.0--0.8.0 end

-- upgrade 0.8.0--0.9.0 begin
-- lyra 0.8.0 -> 0.9.0: a lyra_index built from 0.9.0 on keys text under
-- an ICU collation by the collation's sort key (pg_ext/src/index/
-- collated.rs): in the collation's order (ORDER BY, ranges) and, under a
-- nondeterministic collation, equal exactly when the strings are (UNIQUE).
-- An index built before keeps its byte keys — equality only, as it was —
-- until rebuilt; this names the ones that may be such. No catalog
-- objects change. scripts/setup.sh installs this section as
-- lyra--0.8.0--0.9.0.sql.
DO $$
DECLARE
    older regclass;
BEGIN
    FOR older IN
        SELECT DISTINCT i.indexrelid::regclass
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_am am ON am.oid = c.relam AND am.amname = 'lyra_index'
        CROSS JOIN LATERAL unnest(i.indcollation::oid[], i.indclass::oid[]) AS k(coll, class)
        JOIN pg_collation co ON co.oid = k.coll
        JOIN pg_opclass oc ON oc.oid = k.class
        WHERE (co.collprovider = 'i'
               OR (co.oid = 'default'::regcollation
                   AND (SELECT datlocprovider FROM pg_database WHERE datname = current_database()) = 'i'))
          AND oc.opcintype IN ('text'::regtype, 'bpchar'::regtype, 'name'::regtype)
          AND oc.opcname NOT IN ('text_pattern_ops', 'bpchar_pattern_ops')
    LOOP
        -- (a WARNING: an extension script's NOTICEs are not shown)
        RAISE WARNING 'index % has text under an ICU collation: if built before lyra 0.9.0 its keys are the text''s bytes (equality only); REINDEX it to have it ordered by the collation', older;
    END LOOP;
END
$$;
-- upgrade 0.8.0--0.9.0 end

-- upgrade 0.9.0--0.10.0 begin
-- lyra 0.9.0 -> 0.10.0: node_requests(), the requests a backend has sent
-- to its node (pg_ext/src/admin.rs). scripts/setup.sh installs this
-- section as lyra--0.9.0--0.10.0.sql.
CREATE FUNCTION node_requests() RETURNS bigint
    LANGUAGE c VOLATILE STRICT AS 'MODULE_PATHNAME', 'lyra_node_requests_wrapper';
COMMENT ON FUNCTION node_requests() IS
    'The requests this backend has sent to its Lyra node since it started, each a round trip.';
-- upgrade 0.9.0--0.10.0 end

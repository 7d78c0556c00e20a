-- The table access method `lyra`: tables created `USING lyra` (or with
-- default_table_access_method = lyra) are stored in the Lyra engine.
CREATE FUNCTION lyra_tam_handler(internal) RETURNS table_am_handler
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'lyra_tam_handler';

CREATE ACCESS METHOD lyra TYPE TABLE HANDLER lyra_tam_handler;

COMMENT ON ACCESS METHOD lyra IS 'Lyra: rows stored in the replicated, transactional Lyra engine';

-- The index access method `lyra_index`: every index on a Lyra table is
-- stored in the engine (the utility hook picks it for CREATE INDEX,
-- PRIMARY KEY and UNIQUE on Lyra tables). Its operator classes reuse
-- btree's comparison operators and functions; the engine's key encoding
-- orders values the way these operators do (see pg_ext/src/index).
CREATE FUNCTION lyra_index_handler(internal) RETURNS index_am_handler
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'lyra_index_handler';

CREATE ACCESS METHOD lyra_index TYPE INDEX HANDLER lyra_index_handler;

COMMENT ON ACCESS METHOD lyra_index IS 'Lyra: index entries stored in the Lyra engine';

CREATE OPERATOR FAMILY lyra_integer_ops USING lyra_index;
CREATE OPERATOR CLASS lyra_int2_ops DEFAULT FOR TYPE int2 USING lyra_index FAMILY lyra_integer_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btint2cmp(int2, int2);
CREATE OPERATOR CLASS lyra_int4_ops DEFAULT FOR TYPE int4 USING lyra_index FAMILY lyra_integer_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btint4cmp(int4, int4);
CREATE OPERATOR CLASS lyra_int8_ops DEFAULT FOR TYPE int8 USING lyra_index FAMILY lyra_integer_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btint8cmp(int8, int8);
ALTER OPERATOR FAMILY lyra_integer_ops USING lyra_index ADD
    OPERATOR 1 < (int2, int4),
    OPERATOR 2 <= (int2, int4),
    OPERATOR 3 = (int2, int4),
    OPERATOR 4 >= (int2, int4),
    OPERATOR 5 > (int2, int4),
    FUNCTION 1 (int2, int4) btint24cmp(int2, int4);
ALTER OPERATOR FAMILY lyra_integer_ops USING lyra_index ADD
    OPERATOR 1 < (int2, int8),
    OPERATOR 2 <= (int2, int8),
    OPERATOR 3 = (int2, int8),
    OPERATOR 4 >= (int2, int8),
    OPERATOR 5 > (int2, int8),
    FUNCTION 1 (int2, int8) btint28cmp(int2, int8);
ALTER OPERATOR FAMILY lyra_integer_ops USING lyra_index ADD
    OPERATOR 1 < (int4, int2),
    OPERATOR 2 <= (int4, int2),
    OPERATOR 3 = (int4, int2),
    OPERATOR 4 >= (int4, int2),
    OPERATOR 5 > (int4, int2),
    FUNCTION 1 (int4, int2) btint42cmp(int4, int2);
ALTER OPERATOR FAMILY lyra_integer_ops USING lyra_index ADD
    OPERATOR 1 < (int4, int8),
    OPERATOR 2 <= (int4, int8),
    OPERATOR 3 = (int4, int8),
    OPERATOR 4 >= (int4, int8),
    OPERATOR 5 > (int4, int8),
    FUNCTION 1 (int4, int8) btint48cmp(int4, int8);
ALTER OPERATOR FAMILY lyra_integer_ops USING lyra_index ADD
    OPERATOR 1 < (int8, int2),
    OPERATOR 2 <= (int8, int2),
    OPERATOR 3 = (int8, int2),
    OPERATOR 4 >= (int8, int2),
    OPERATOR 5 > (int8, int2),
    FUNCTION 1 (int8, int2) btint82cmp(int8, int2);
ALTER OPERATOR FAMILY lyra_integer_ops USING lyra_index ADD
    OPERATOR 1 < (int8, int4),
    OPERATOR 2 <= (int8, int4),
    OPERATOR 3 = (int8, int4),
    OPERATOR 4 >= (int8, int4),
    OPERATOR 5 > (int8, int4),
    FUNCTION 1 (int8, int4) btint84cmp(int8, int4);

CREATE OPERATOR FAMILY lyra_float_ops USING lyra_index;
CREATE OPERATOR CLASS lyra_float4_ops DEFAULT FOR TYPE float4 USING lyra_index FAMILY lyra_float_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btfloat4cmp(float4, float4);
CREATE OPERATOR CLASS lyra_float8_ops DEFAULT FOR TYPE float8 USING lyra_index FAMILY lyra_float_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btfloat8cmp(float8, float8);
ALTER OPERATOR FAMILY lyra_float_ops USING lyra_index ADD
    OPERATOR 1 < (float4, float8),
    OPERATOR 2 <= (float4, float8),
    OPERATOR 3 = (float4, float8),
    OPERATOR 4 >= (float4, float8),
    OPERATOR 5 > (float4, float8),
    FUNCTION 1 (float4, float8) btfloat48cmp(float4, float8);
ALTER OPERATOR FAMILY lyra_float_ops USING lyra_index ADD
    OPERATOR 1 < (float8, float4),
    OPERATOR 2 <= (float8, float4),
    OPERATOR 3 = (float8, float4),
    OPERATOR 4 >= (float8, float4),
    OPERATOR 5 > (float8, float4),
    FUNCTION 1 (float8, float4) btfloat84cmp(float8, float4);

CREATE OPERATOR FAMILY lyra_oid_ops USING lyra_index;
CREATE OPERATOR CLASS lyra_oid_ops DEFAULT FOR TYPE oid USING lyra_index FAMILY lyra_oid_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btoidcmp(oid, oid);

CREATE OPERATOR FAMILY lyra_bool_ops USING lyra_index;
CREATE OPERATOR CLASS lyra_bool_ops DEFAULT FOR TYPE bool USING lyra_index FAMILY lyra_bool_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btboolcmp(bool, bool);

CREATE OPERATOR FAMILY lyra_text_ops USING lyra_index;
CREATE OPERATOR CLASS lyra_text_ops DEFAULT FOR TYPE text USING lyra_index FAMILY lyra_text_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 bttextcmp(text, text);

CREATE OPERATOR FAMILY lyra_bpchar_ops USING lyra_index;
CREATE OPERATOR CLASS lyra_bpchar_ops DEFAULT FOR TYPE bpchar USING lyra_index FAMILY lyra_bpchar_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 bpcharcmp(bpchar, bpchar);

CREATE OPERATOR FAMILY lyra_name_ops USING lyra_index;
CREATE OPERATOR CLASS lyra_name_ops DEFAULT FOR TYPE name USING lyra_index FAMILY lyra_name_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 btnamecmp(name, name);

CREATE OPERATOR FAMILY lyra_bytea_ops USING lyra_index;
CREATE OPERATOR CLASS lyra_bytea_ops DEFAULT FOR TYPE bytea USING lyra_index FAMILY lyra_bytea_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 byteacmp(bytea, bytea);

CREATE OPERATOR FAMILY lyra_date_ops USING lyra_index;
CREATE OPERATOR CLASS lyra_date_ops DEFAULT FOR TYPE date USING lyra_index FAMILY lyra_date_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 date_cmp(date, date);

CREATE OPERATOR FAMILY lyra_time_ops USING lyra_index;
CREATE OPERATOR CLASS lyra_time_ops DEFAULT FOR TYPE time USING lyra_index FAMILY lyra_time_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 time_cmp(time, time);

CREATE OPERATOR FAMILY lyra_timestamp_ops USING lyra_index;
CREATE OPERATOR CLASS lyra_timestamp_ops DEFAULT FOR TYPE timestamp USING lyra_index FAMILY lyra_timestamp_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 timestamp_cmp(timestamp, timestamp);

CREATE OPERATOR FAMILY lyra_timestamptz_ops USING lyra_index;
CREATE OPERATOR CLASS lyra_timestamptz_ops DEFAULT FOR TYPE timestamptz USING lyra_index FAMILY lyra_timestamptz_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 timestamptz_cmp(timestamptz, timestamptz);

CREATE OPERATOR FAMILY lyra_uuid_ops USING lyra_index;
CREATE OPERATOR CLASS lyra_uuid_ops DEFAULT FOR TYPE uuid USING lyra_index FAMILY lyra_uuid_ops AS
    OPERATOR 1 <,
    OPERATOR 2 <=,
    OPERATOR 3 =,
    OPERATOR 4 >=,
    OPERATOR 5 >,
    FUNCTION 1 uuid_cmp(uuid, uuid);

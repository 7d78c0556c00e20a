-- lyra 0.1.0 -> 0.2.0: operator classes for the key types lyra_index
-- encodes since 0.2.0 (ALTER EXTENSION lyra UPDATE; `make run` runs it).
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

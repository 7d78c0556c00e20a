-- The table access method `lyra`: tables created `USING lyra` (or with
-- default_table_access_method = lyra) are stored in the Lyra engine.
CREATE FUNCTION lyra_tam_handler(internal) RETURNS table_am_handler
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'lyra_tam_handler';

CREATE ACCESS METHOD lyra TYPE TABLE HANDLER lyra_tam_handler;

COMMENT ON ACCESS METHOD lyra IS 'Lyra: rows stored in the replicated, transactional Lyra engine';

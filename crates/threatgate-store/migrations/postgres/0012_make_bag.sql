-- KQL's make_bag: a group's property bags (dynamic values, stored as JSON text) merged into
-- one, the first value of a key kept, values that are not objects (or not JSON) left out, '{}'
-- for none; as the SQLite store's threatgate_make_bag aggregate computes it. A bag past 16 MiB
-- takes no more keys (the SQLite store stops at 100,000 keys).
CREATE FUNCTION threatgate_bag_merge(state jsonb, value TEXT) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    parsed jsonb;
BEGIN
    IF value IS NULL THEN
        RETURN state;
    END IF;
    BEGIN
        parsed := value::jsonb;
    EXCEPTION WHEN others THEN
        RETURN state;
    END;
    IF jsonb_typeof(parsed) <> 'object' THEN
        RETURN state;
    END IF;
    IF pg_column_size(state) > 16777216 THEN
        RETURN state;
    END IF;
    -- The right side wins a key both have: the state, so the first value stays.
    RETURN parsed || state;
END
$$;

CREATE FUNCTION threatgate_bag_text(state jsonb) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CAST(COALESCE(state, '{}'::jsonb) AS TEXT) $$;

CREATE AGGREGATE threatgate_make_bag(TEXT) (
    SFUNC = threatgate_bag_merge,
    STYPE = jsonb,
    FINALFUNC = threatgate_bag_text,
    INITCOND = '{}'
);

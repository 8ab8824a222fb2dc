-- KQL's parse_json: a string's JSON, or the string itself (as a JSON string) where it is not
-- JSON. A cast to json raises an error on text that is not JSON; this function turns that into
-- the fallback, so a hunting query never fails on one row's value. The json type keeps the
-- text as written.
CREATE FUNCTION threatgate_parse_json(value TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF value IS NULL OR value = '' THEN
        RETURN NULL;
    END IF;
    RETURN CAST(CAST(value AS json) AS TEXT);
EXCEPTION WHEN others THEN
    RETURN CAST(to_json(value) AS TEXT);
END
$$;

-- KQL's todatetime: an ISO 8601 text as ticks (100 ns since the Unix epoch), null where it is
-- not a datetime. A text without a zone is UTC, as in KQL (the function runs in UTC). The
-- cast's error on other text becomes the null, so a hunting query never fails on one row's value.
CREATE FUNCTION threatgate_todatetime(value TEXT) RETURNS BIGINT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET TimeZone = 'UTC'
AS $$
BEGIN
    IF value IS NULL OR value = '' THEN
        RETURN NULL;
    END IF;
    RETURN CAST(round(EXTRACT(EPOCH FROM CAST(value AS timestamptz)) * 10000000) AS BIGINT);
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

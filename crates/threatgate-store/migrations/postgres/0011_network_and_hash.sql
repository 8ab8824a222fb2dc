-- KQL's ipv4_is_private, ipv4_is_in_range and hash_sha256, as the SQLite store's functions of
-- the same names compute them. An address takes an optional prefix length ("10.1.2.3/24");
-- anything that is not a dotted IPv4 address gives null (never an error, so a hunting query
-- does not fail on one row's value).
CREATE FUNCTION threatgate_ipv4(value TEXT) RETURNS inet
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    IF value IS NULL OR value !~ '^\s*[0-9]{1,3}(\.[0-9]{1,3}){3}(/[0-9]{1,2})?\s*$' THEN
        RETURN NULL;
    END IF;
    RETURN btrim(value)::inet;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

CREATE FUNCTION threatgate_ipv4_is_in_range(value TEXT, range TEXT) RETURNS BOOLEAN
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT threatgate_ipv4(value) <<= threatgate_ipv4(range) $$;

CREATE FUNCTION threatgate_ipv4_is_private(value TEXT) RETURNS BOOLEAN
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN threatgate_ipv4(value) IS NULL THEN NULL
                ELSE threatgate_ipv4(value) <<= inet '10.0.0.0/8'
                  OR threatgate_ipv4(value) <<= inet '172.16.0.0/12'
                  OR threatgate_ipv4(value) <<= inet '192.168.0.0/16' END
$$;

CREATE FUNCTION threatgate_sha256(value TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT encode(sha256(convert_to(value, 'UTF8')), 'hex') $$;

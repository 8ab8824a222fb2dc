-- KQL's parse_url, parse_urlquery, parse_path and totimespan over text, as the SQLite store's
-- functions of the same names compute them (threatgate-sqlite-functions): the same parts, the
-- same JSON text (keys in KQL's order, no spaces), the same nulls.

-- The `&`-separated key=value pairs of a URL's query as a JSON object, %XX decoded where the
-- result is UTF-8, a key's first value kept, in the order the keys first appear.
CREATE FUNCTION threatgate_query_parameters(query TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT '{' || COALESCE(string_agg(CAST(to_json(k) AS TEXT) || ':' || CAST(to_json(v) AS TEXT), ',' ORDER BY n), '') || '}'
    FROM (
        SELECT DISTINCT ON (k) k, v, n
        FROM (
            SELECT COALESCE(threatgate_url_decode(split_part(pair, '=', 1)), split_part(pair, '=', 1)) AS k,
                   CASE WHEN strpos(pair, '=') > 0
                        THEN COALESCE(threatgate_url_decode(substr(pair, strpos(pair, '=') + 1)), substr(pair, strpos(pair, '=') + 1))
                        ELSE '' END AS v,
                   n
            FROM unnest(string_to_array(query, '&')) WITH ORDINALITY AS p (pair, n)
            WHERE pair <> ''
        ) AS decoded
        ORDER BY k, n
    ) AS firsts
$$;

-- The text before the first `separator` and the text after it (`value` and '' without one).
CREATE FUNCTION threatgate_split_once(value TEXT, separator TEXT, OUT head TEXT, OUT tail TEXT)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN strpos(value, separator) > 0 THEN substr(value, 1, strpos(value, separator) - 1) ELSE value END,
           CASE WHEN strpos(value, separator) > 0 THEN substr(value, strpos(value, separator) + length(separator)) ELSE '' END
$$;

CREATE FUNCTION threatgate_parse_url(url TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    scheme TEXT := '';
    rest TEXT := '';
    authority TEXT;
    tail TEXT;
    user_info TEXT := '';
    host_port TEXT;
    username TEXT;
    password TEXT;
    host TEXT;
    port TEXT;
    before_fragment TEXT;
    fragment TEXT;
    path TEXT;
    query TEXT;
BEGIN
    IF url IS NULL THEN
        RETURN NULL;
    END IF;
    IF strpos(url, '://') > 0 THEN
        SELECT * INTO scheme, rest FROM threatgate_split_once(url, '://');
    END IF;
    authority := substring(rest FROM '^[^/?#]*');
    tail := substr(rest, length(authority) + 1);
    -- Without an '@' the whole authority is the host and port.
    IF strpos(authority, '@') > 0 THEN
        SELECT * INTO user_info, host_port FROM threatgate_split_once(authority, '@');
    ELSE
        host_port := authority;
    END IF;
    SELECT * INTO username, password FROM threatgate_split_once(user_info, ':');
    SELECT * INTO host, port FROM threatgate_split_once(host_port, ':');
    SELECT * INTO before_fragment, fragment FROM threatgate_split_once(tail, '#');
    SELECT * INTO path, query FROM threatgate_split_once(before_fragment, '?');
    RETURN '{"Scheme":' || CAST(to_json(scheme) AS TEXT)
        || ',"Host":' || CAST(to_json(host) AS TEXT)
        || ',"Port":' || CAST(to_json(port) AS TEXT)
        || ',"Path":' || CAST(to_json(path) AS TEXT)
        || ',"Username":' || CAST(to_json(username) AS TEXT)
        || ',"Password":' || CAST(to_json(password) AS TEXT)
        || ',"Query Parameters":' || threatgate_query_parameters(query)
        || ',"Fragment":' || CAST(to_json(fragment) AS TEXT) || '}';
END
$$;

CREATE FUNCTION threatgate_parse_url_query(query TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN query IS NOT NULL THEN '{"Query Parameters":' || threatgate_query_parameters(query) || '}' END $$;

CREATE FUNCTION threatgate_parse_path(path TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    scheme TEXT := '';
    rest TEXT := path;
    unprefixed TEXT;
    root TEXT := '';
    root_end INTEGER;
    separator INTEGER;
    directory TEXT;
    name TEXT;
    directory_name TEXT := '';
    filename TEXT;
    stream TEXT;
    extension TEXT := '';
BEGIN
    IF path IS NULL THEN
        RETURN NULL;
    END IF;
    IF path ~ '^[A-Za-z][A-Za-z0-9+.-]*://' THEN
        scheme := substring(path FROM '^([A-Za-z][A-Za-z0-9+.-]*)://');
        rest := substr(path, length(scheme) + 4);
    END IF;
    IF left(rest, 4) = '\\?\' OR left(rest, 4) = '//?/' THEN
        unprefixed := substr(rest, 5);
    ELSE
        unprefixed := rest;
    END IF;
    IF unprefixed ~ '^[A-Za-z]:' THEN
        root := left(unprefixed, 2);
    END IF;
    -- Where the root (with a long path's prefix) ends, and the last separator (0: none).
    root_end := length(rest) - length(unprefixed) + length(root);
    separator := length(rest) - length(substring(rest FROM '[^/\\]*$'));
    IF separator = 0 THEN
        directory := left(rest, root_end);
        name := substr(rest, root_end + 1);
    ELSIF separator - 1 <= root_end THEN
        -- The root's own separator (C:\file.txt, /file.txt) stays: the directory is the root.
        directory := left(rest, separator);
        name := substr(rest, separator + 1);
    ELSE
        directory := left(rest, separator - 1);
        name := substr(rest, separator + 1);
    END IF;
    IF length(directory) > root_end + 1 THEN
        directory_name := substring(directory FROM '[^/\\]*$');
    END IF;
    SELECT * INTO filename, stream FROM threatgate_split_once(name, ':');
    IF strpos(filename, '.') > 0 THEN
        extension := substring(filename FROM '[^.]*$');
    END IF;
    RETURN '{"Scheme":' || CAST(to_json(scheme) AS TEXT)
        || ',"RootPath":' || CAST(to_json(root) AS TEXT)
        || ',"DirectoryPath":' || CAST(to_json(directory) AS TEXT)
        || ',"DirectoryName":' || CAST(to_json(directory_name) AS TEXT)
        || ',"Filename":' || CAST(to_json(filename) AS TEXT)
        || ',"Extension":' || CAST(to_json(extension) AS TEXT)
        || ',"AlternateDataStreamName":' || CAST(to_json(stream) AS TEXT) || '}';
END
$$;

-- A timespan as .NET writes one, [-][d.]hh:mm[:ss[.fffffff]], in ticks (100 ns); null for
-- anything else or a part out of range.
CREATE FUNCTION threatgate_parse_timespan(value TEXT) RETURNS BIGINT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    m TEXT[];
    ticks BIGINT;
BEGIN
    m := regexp_match(value, '^\s*(-)?(?:([0-9]{1,8})\.)?([0-9]{1,2}):([0-9]{1,2})(?::([0-9]{1,2})(?:\.([0-9]{1,7}))?)?\s*$');
    IF m IS NULL OR CAST(m[3] AS INTEGER) > 23 OR CAST(m[4] AS INTEGER) > 59 OR CAST(COALESCE(m[5], '0') AS INTEGER) > 59 THEN
        RETURN NULL;
    END IF;
    ticks := (((CAST(COALESCE(m[2], '0') AS BIGINT) * 24 + CAST(m[3] AS BIGINT)) * 60 + CAST(m[4] AS BIGINT)) * 60
        + CAST(COALESCE(m[5], '0') AS BIGINT)) * 10000000 + CAST(COALESCE(rpad(m[6], 7, '0'), '0') AS BIGINT);
    RETURN CASE WHEN m[1] IS NULL THEN ticks ELSE -ticks END;
END
$$;

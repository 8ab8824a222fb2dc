-- KQL's base64_decode_tostring and url_decode: the UTF-8 text that base64 (padding optional)
-- or %XX escapes encode, null where the input is not that or the bytes are not UTF-8. U+0000,
-- which a PostgreSQL text cannot hold, is dropped (the SQLite store does the same), so a decoded
-- UTF-16 command line reads as its characters. Errors become the null, so a hunting query never
-- fails on one row's value.
CREATE FUNCTION threatgate_base64_decode(value TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    cleaned TEXT := btrim(value);
BEGIN
    IF cleaned IS NULL THEN
        RETURN NULL;
    END IF;
    cleaned := rtrim(cleaned, '=');
    cleaned := cleaned || repeat('=', (4 - length(cleaned) % 4) % 4);
    -- The bytes as hex pairs "xy ", the zero bytes' pairs removed, then back to bytes.
    RETURN convert_from(
        decode(replace(replace(regexp_replace(encode(decode(cleaned, 'base64'), 'hex'), '(..)', '\1 ', 'g'), '00 ', ''), ' ', ''), 'hex'),
        'UTF8');
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

CREATE FUNCTION threatgate_url_decode(value TEXT) RETURNS TEXT
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    bytes BYTEA := '';
    position INTEGER := 1;
    size INTEGER := length(value);
    piece TEXT;
BEGIN
    IF value IS NULL THEN
        RETURN NULL;
    END IF;
    WHILE position <= size LOOP
        piece := substr(value, position, 1);
        IF piece = '%' AND substr(value, position + 1, 2) ~ '^[0-9A-Fa-f]{2}$' THEN
            IF substr(value, position + 1, 2) <> '00' THEN
                bytes := bytes || decode(substr(value, position + 1, 2), 'hex');
            END IF;
            position := position + 3;
        ELSE
            bytes := bytes || convert_to(piece, 'UTF8');
            position := position + 1;
        END IF;
    END LOOP;
    RETURN convert_from(bytes, 'UTF8');
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

-- Comments on one alert (Microsoft Graph's `POST /security/alerts_v2/{id}/comments`): a JSON
-- array of `{comment, createdBy, createdTime}`, NULL while there are none. They stay with the
-- alert's row, so they follow it when incidents merge.
ALTER TABLE alerts ADD COLUMN comments TEXT;

-- Comments on one alert (Microsoft Graph's `POST /security/alerts_v2/{id}/comments`): a JSON
-- array of `{comment, createdBy, createdTime}`, NULL while there are none. They stay with the
-- alert's row, so they follow it when incidents merge.
ALTER TABLE alerts ADD COLUMN comments TEXT;
-- Few alerts have comments: Graph's expanded alerts look theirs up in this small index.
CREATE INDEX alerts_with_comments ON alerts (tenant_id, alert_id) WHERE comments IS NOT NULL;

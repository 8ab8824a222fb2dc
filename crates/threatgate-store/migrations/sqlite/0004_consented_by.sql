-- Who last consented to an application in a tenant (a UPN, or the administration command line),
-- for the customer's Enterprise applications page. NULL for built-in resources.
ALTER TABLE service_principals ADD COLUMN consented_by TEXT;
ALTER TABLE service_principals ADD COLUMN consented_at INTEGER;

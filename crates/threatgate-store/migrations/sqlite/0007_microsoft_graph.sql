-- Microsoft Graph is a built-in resource (like Microsoft Threat Protection): every tenant has
-- its service principal. Tenants created before it get one here, with a random version-4 id.
INSERT INTO service_principals (object_id, tenant_id, app_id, display_name, created_at)
SELECT lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2)
           || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2)
           || '-' || lower(hex(randomblob(6))),
       t.id, '00000003-0000-0000-c000-000000000000', 'Microsoft Graph', CAST(strftime('%s', 'now') AS INTEGER)
FROM tenants AS t
WHERE NOT EXISTS (
    SELECT 1 FROM service_principals AS p
    WHERE p.tenant_id = t.id AND p.app_id = '00000003-0000-0000-c000-000000000000'
);

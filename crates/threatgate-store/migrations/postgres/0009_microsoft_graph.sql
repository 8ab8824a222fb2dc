-- Microsoft Graph is a built-in resource (like Microsoft Threat Protection): every tenant has
-- its service principal. Tenants created before it get one here.
INSERT INTO service_principals (object_id, tenant_id, app_id, display_name, created_at)
SELECT CAST(gen_random_uuid() AS TEXT), t.id, '00000003-0000-0000-c000-000000000000', 'Microsoft Graph',
       CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)
FROM tenants AS t
WHERE NOT EXISTS (
    SELECT 1 FROM service_principals AS p
    WHERE p.tenant_id = t.id AND p.app_id = '00000003-0000-0000-c000-000000000000'
);

//! A client assertion (a JWT signed by the client's certificate) as the token endpoint checks it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threatgate_domain::{AppId, DisplayName, DomainName, Tenant, TenantId};
use threatgate_identity::assertion::{AssertionCheck, verify_client_assertion};
use time::OffsetDateTime;

fuzz_target!(|assertion: &str| {
    let now = OffsetDateTime::now_utc();
    let tenant = Tenant {
        id: TenantId::parse("6d4f7a1e-2b3c-4d5e-8f90-a1b2c3d4e5f6").expect("a tenant id"),
        display_name: DisplayName::parse("Contoso").expect("a name"),
        initial_domain: DomainName::parse("contoso.onmicrosoft.com").expect("a domain"),
        domains: vec![DomainName::parse("contoso.onmicrosoft.com").expect("a domain")],
        created_at: now,
    };
    let origins = ["https://127.0.0.1:8443".to_owned()];
    let check = AssertionCheck {
        client_id: AppId::parse("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d").expect("an app id"),
        certificates: &[],
        tenant: &tenant,
        origins: &origins,
        now,
        max_lifetime: time::Duration::hours(1),
    };
    let _ = verify_client_assertion(assertion, check);
});

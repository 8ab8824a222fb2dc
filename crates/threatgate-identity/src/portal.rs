//! Portal sign-in and sessions: passwords checked with Argon2id on a blocking thread (at most
//! two at a time), sessions as random cookie values of which only a SHA-256 hash is stored.

use aws_lc_rs::digest::{SHA256, digest};
use threatgate_domain::{Permission, TenantId, TenantScope, Upn, User, UserRole};
use threatgate_store::{SessionRecord, Store};
use time::{Duration, OffsetDateTime};
use tokio::sync::Semaphore;

use crate::random::random_base64url;
use crate::{Error, Result};

/// How long a portal session lasts.
pub const SESSION_LIFETIME: Duration = Duration::hours(8);

/// Argon2id checks run at most this many at a time (each takes ~15 ms and 19 MiB).
static PASSWORD_CHECKS: Semaphore = Semaphore::const_new(2);

/// A new session: the cookie value (shown to the browser only) and what is stored.
#[derive(Debug)]
pub struct NewSession {
    pub cookie_value: String,
    pub record: SessionRecord,
}

/// The user with this UPN and password, or `None`. Takes the same time whether the user
/// exists or not.
pub async fn authenticate(store: &dyn Store, upn: &str, password: &str) -> Result<Option<User>> {
    // An unknown user still costs one Argon2id check, against a hash made once.
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    let dummy = DUMMY
        .get_or_try_init(|| async {
            tokio::task::spawn_blocking(|| crate::passwords::hash_password("no such user"))
                .await
                .map_err(|e| Error::PasswordHash(e.to_string()))?
        })
        .await?;
    let user = match Upn::parse(upn) {
        Ok(upn) => store.find_user_by_upn(&upn).await?,
        Err(_) => None,
    };
    let hash = user.as_ref().map_or_else(|| dummy.clone(), |u| u.password_hash.clone());
    let password = password.to_owned();
    let _permit = PASSWORD_CHECKS.acquire().await.map_err(|_| Error::PasswordHash("checks stopped".into()))?;
    let matches = tokio::task::spawn_blocking(move || crate::passwords::verify_password(&password, &hash))
        .await
        .map_err(|e| Error::PasswordHash(e.to_string()))?;
    Ok(user.filter(|_| matches))
}

/// Starts a session for `user` at `now`.
pub async fn start_session(store: &dyn Store, user: &User, now: OffsetDateTime) -> Result<NewSession> {
    let cookie_value = random_base64url::<32>()?;
    let record = SessionRecord {
        token_hash: session_hash(&cookie_value),
        user_id: user.object_id,
        tenant_id: user.tenant_id,
        upn: user.upn.clone(),
        csrf_token: random_base64url::<24>()?,
        created_at: now,
        expires_at: now + SESSION_LIFETIME,
    };
    store.insert_session(&record).await?;
    Ok(NewSession { cookie_value, record })
}

/// The hash under which a session cookie is stored.
pub fn session_hash(cookie_value: &str) -> Vec<u8> {
    digest(&SHA256, cookie_value.as_bytes()).as_ref().to_vec()
}

/// A signed-in user's scope over their own tenant's incident data, if they are (still) one of
/// its Global Administrators; `None` otherwise. The portal's only way to incident data.
pub async fn administrator_scope<P: Permission>(
    store: &dyn Store,
    upn: &Upn,
    tenant: TenantId,
) -> Result<Option<TenantScope<P>>> {
    let user = store.find_user_by_upn(upn).await?;
    Ok(user
        .filter(|user| user.tenant_id == tenant && user.role == UserRole::GlobalAdministrator)
        .map(|user| TenantScope::for_signed_in_administrator(tenant, user.upn.as_str())))
}

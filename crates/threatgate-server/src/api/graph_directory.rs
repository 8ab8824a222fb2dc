//! Microsoft Graph's onboarding subset (`../shared/spec/graph-security-api.md` §10): what
//! partner scripts call to register the multi-tenant application, give it a secret, create its
//! service principal in a customer tenant and grant it app roles, with app-only tokens holding
//! `Application.ReadWrite.All` / `AppRoleAssignment.ReadWrite.All` in the acting tenant.
//!
//! Each call is a [`DirectoryAdmin`] change made by the calling application
//! ([`Actor::Application`]): the same rules and the same audit trail as the portal and the
//! command line. Keys are object ids or, where Graph has them, `(appId='…')` (the router's
//! path normalization turns that form into the segment `appId=…`).

use axum::body::Body;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use threatgate_domain::{
    AppId, AppRoleAssignment, AppRoleId, Application, BuiltInResource, GraphAssignAppRoles, GraphReadApplications,
    GraphWriteApplications, ObjectId, Permission, RequiredAppRole, ServicePrincipal, TenantId, TenantScope,
    built_in_resource,
};
use threatgate_identity::admin::{AdminError, MAX_SECRET_LIFETIME_DAYS};
use threatgate_identity::{Actor, DirectoryAdmin};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::ApiFailure;
use super::graph::{json_response, query_pairs, render_graph, write_body};
use super::respond::{noted, throttle};
use crate::quotas::Api;
use crate::state::AppState;

/// The tenant that publishes Microsoft's own applications (Microsoft Graph), as Graph shows
/// it in `appOwnerOrganizationId`.
const MICROSOFT_SERVICES_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

/// A refusal of a directory call, in Graph's error shape with the directory's codes.
#[derive(Debug)]
pub struct DirectoryFailure {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl DirectoryFailure {
    fn bad_request(message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code: "Request_BadRequest", message: message.into(), retry_after: None }
    }

    fn not_found(key: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "Request_ResourceNotFound",
            message: format!(
                "Resource '{}' does not exist or one of its queried reference-property objects are not present.",
                key.chars().take(80).collect::<String>()
            ),
            retry_after: None,
        }
    }
}

impl From<ApiFailure> for DirectoryFailure {
    fn from(failure: ApiFailure) -> Self {
        let (status, code, message, retry_after) = match failure {
            ApiFailure::Unauthorized(message) => {
                (StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", message, None)
            }
            // The directory's wording for a token without the role (spec §3.3).
            ApiFailure::Forbidden(_) => (
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.".to_owned(),
                None,
            ),
            ApiFailure::NotFound(message) => (StatusCode::NOT_FOUND, "Request_ResourceNotFound", message, None),
            ApiFailure::OData(message)
            | ApiFailure::InvalidRequestBody(message)
            | ApiFailure::InvalidInput(message)
            | ApiFailure::BadRequest(message) => (StatusCode::BAD_REQUEST, "Request_BadRequest", message, None),
            ApiFailure::TooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request_BadRequest",
                format!("The request body is larger than {limit} bytes."),
                None,
            ),
            ApiFailure::Throttled { retry_after_seconds, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "Please retry again later.".to_owned(),
                Some(retry_after_seconds),
            ),
            ApiFailure::Unavailable { status, retry_after_seconds } => (
                status,
                "Service_ServiceUnavailable",
                "The service is unavailable; retry later (emulator fault).".to_owned(),
                retry_after_seconds,
            ),
            ApiFailure::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceNotAvailable",
                "The service is busy; retry later.".to_owned(),
                Some(super::errors::BUSY_RETRY_AFTER_SECONDS),
            ),
            ApiFailure::Internal(detail) => {
                tracing::error!(detail, "Graph directory request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "UnknownError", String::new(), None)
            }
        };
        Self { status, code, message, retry_after }
    }
}

impl From<threatgate_store::StoreError> for DirectoryFailure {
    fn from(error: threatgate_store::StoreError) -> Self {
        ApiFailure::from(error).into()
    }
}

impl From<AdminError> for DirectoryFailure {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::NotFound { name, .. } => Self::not_found(&name),
            AdminError::Forbidden(_) => ApiFailure::Forbidden(String::new()).into(),
            AdminError::Conflict("app role assignment") => {
                Self::bad_request("Permission being assigned already exists on the object")
            }
            AdminError::Conflict(what) => Self {
                status: StatusCode::CONFLICT,
                code: "Request_MultipleObjectsWithSameKeyValue",
                message: format!("Another object with the same value for property {what} already exists."),
                retry_after: None,
            },
            AdminError::InvalidName(error) => Self::bad_request(error.to_string()),
            AdminError::Refused(message) => Self::bad_request(message),
            AdminError::Service(threatgate_identity::Error::Store(error)) => error.into(),
            AdminError::Service(error) => ApiFailure::Internal(error.to_string()).into(),
        }
    }
}

impl IntoResponse for DirectoryFailure {
    fn into_response(self) -> Response {
        let request_id = Uuid::new_v4().to_string();
        let throttled = self.status == StatusCode::TOO_MANY_REQUESTS;
        let mut response = render_graph(self.status, self.code, &self.message, &request_id, throttled);
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(super::access::AccessNote {
            result: format!("{}: {}", self.code, self.message),
            request_id: Some(request_id),
            ..Default::default()
        });
        response
    }
}

/// [`GraphAuthorized`] refused in the directory's wording.
#[derive(Debug)]
pub struct DirectoryAuthorized<P: Permission>(TenantScope<P>);

impl<P: Permission> axum::extract::FromRequestParts<AppState> for DirectoryAuthorized<P> {
    type Rejection = DirectoryFailure;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let scope = super::auth::Authorized::<P>::from_request_parts(parts, state).await?.0;
        Ok(Self(scope))
    }
}

fn admin<'a, P: Permission>(state: &'a AppState, scope: &'a TenantScope<P>) -> DirectoryAdmin<'a> {
    DirectoryAdmin::new(
        state.store.as_ref(),
        state.identity.hasher(),
        state.clock.as_ref(),
        Actor::Application { name: scope.caller_name(), tenant: scope.tenant() },
    )
}

/// `https://host/v1.0` (or `/beta`), as the request was addressed.
fn base(state: &AppState, uri: &axum::http::Uri) -> String {
    super::graph::base(state, uri)
}

fn datetime(time: OffsetDateTime) -> String {
    time.format(&Rfc3339).unwrap_or_default()
}

/// A key segment: an object id, or `appId=…` (from `(appId='…')`).
enum Key {
    Object(ObjectId),
    App(AppId),
}

fn key(segment: &str) -> Result<Key, DirectoryFailure> {
    let parsed = match segment.strip_prefix("appId=") {
        Some(app) => AppId::parse(app.trim_matches('\'')).map(Key::App),
        None => ObjectId::parse(segment).map(Key::Object),
    };
    parsed.ok_or_else(|| {
        DirectoryFailure::bad_request(format!(
            "Invalid object identifier '{}'.",
            segment.chars().take(80).collect::<String>()
        ))
    })
}

/// One entity, with its `@odata.context`.
fn entity(context: String, value: Value) -> Value {
    let mut object = Map::new();
    object.insert("@odata.context".into(), Value::String(context));
    if let Value::Object(fields) = value {
        object.extend(fields);
    }
    Value::Object(object)
}

fn created(value: &Value) -> Response {
    let mut response = json_response(value);
    *response.status_mut() = StatusCode::CREATED;
    response
}

/// Who did what, for the access log.
fn done(response: Response, result: String) -> Response {
    noted(response, Vec::new(), result, None)
}

// ---- Applications ---------------------------------------------------------------------------

/// The body of `POST /applications`, as far as Threatgate keeps it.
struct NewApplication {
    display_name: String,
    multi_tenant: bool,
    redirect_uris: Vec<String>,
    roles: Vec<RequiredAppRole>,
    /// `passwordCredentials: [{displayName}]`: secrets to create with the application.
    passwords: Vec<PasswordRequest>,
}

struct PasswordRequest {
    display_name: String,
    end: Option<OffsetDateTime>,
}

/// Properties `POST /applications` takes; others are refused by name.
const APPLICATION_PROPERTIES: &[&str] =
    &["displayName", "signInAudience", "requiredResourceAccess", "web", "passwordCredentials", "description", "notes"];

fn read_application(body: &Value) -> Result<NewApplication, DirectoryFailure> {
    let object = body.as_object().ok_or_else(|| DirectoryFailure::bad_request("The body must be a JSON object."))?;
    if let Some(other) =
        object.keys().find(|key| !key.starts_with("@odata.") && !APPLICATION_PROPERTIES.contains(&key.as_str()))
    {
        return Err(DirectoryFailure::bad_request(format!(
            "Property '{}' is not supported by Threatgate's applications (supported: {}).",
            other.chars().take(64).collect::<String>(),
            APPLICATION_PROPERTIES.join(", ")
        )));
    }
    let display_name = object
        .get("displayName")
        .and_then(Value::as_str)
        .filter(|name| !name.trim().is_empty())
        .ok_or_else(|| DirectoryFailure::bad_request("Property 'displayName' is required and must be a string."))?
        .to_owned();
    let multi_tenant = match object.get("signInAudience").map(|v| v.as_str()) {
        None | Some(Some("AzureADMyOrg")) => false,
        Some(Some("AzureADMultipleOrgs")) => true,
        Some(other) => {
            return Err(DirectoryFailure::bad_request(format!(
                "signInAudience {} is not supported: use AzureADMyOrg or AzureADMultipleOrgs (work accounts only).",
                other.map_or_else(
                    || "(not a string)".to_owned(),
                    |s| format!("'{}'", s.chars().take(40).collect::<String>())
                )
            )));
        }
    };
    let redirect_uris = match object.get("web").and_then(|web| web.get("redirectUris")) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.len() <= 256 => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| DirectoryFailure::bad_request("web.redirectUris must be an array of strings."))?,
        Some(_) => {
            return Err(DirectoryFailure::bad_request("web.redirectUris must be an array of at most 256 strings."));
        }
    };
    let roles = match object.get("requiredResourceAccess") {
        None | Some(Value::Null) => Vec::new(),
        Some(value) => required_resource_access(value)?,
    };
    let passwords = match object.get("passwordCredentials") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.len() <= 2 => {
            items.iter().map(password_request).collect::<Result<Vec<_>, _>>()?
        }
        Some(_) => {
            return Err(DirectoryFailure::bad_request(
                "passwordCredentials must be an array of at most 2 credentials.",
            ));
        }
    };
    Ok(NewApplication { display_name, multi_tenant, redirect_uris, roles, passwords })
}

/// `requiredResourceAccess`: `[{resourceAppId, resourceAccess: [{id, type: "Role"}]}]`, roles
/// of the built-in resources only.
fn required_resource_access(value: &Value) -> Result<Vec<RequiredAppRole>, DirectoryFailure> {
    let bad = |what: &str| DirectoryFailure::bad_request(format!("requiredResourceAccess: {what}"));
    let resources = value
        .as_array()
        .filter(|items| items.len() <= 16)
        .ok_or_else(|| bad("an array of at most 16 resources is expected."))?;
    let mut roles = Vec::new();
    for resource in resources {
        let app_id = resource
            .get("resourceAppId")
            .and_then(Value::as_str)
            .and_then(AppId::parse)
            .ok_or_else(|| bad("each resource needs a resourceAppId (a GUID)."))?;
        let known: &BuiltInResource = built_in_resource(app_id).ok_or_else(|| {
            bad(&format!(
                "{app_id} is not a resource Threatgate serves (Microsoft Graph, Microsoft Threat Protection)."
            ))
        })?;
        let access = resource
            .get("resourceAccess")
            .and_then(Value::as_array)
            .filter(|items| items.len() <= 64)
            .ok_or_else(|| bad("each resource needs resourceAccess, an array of at most 64 entries."))?;
        for entry in access {
            let id = entry.get("id").and_then(Value::as_str).and_then(|id| Uuid::parse_str(id).ok());
            let kind = entry.get("type").and_then(Value::as_str);
            let (Some(id), Some(kind)) = (id, kind) else {
                return Err(bad("each resourceAccess entry needs an id (a GUID) and a type."));
            };
            if kind != "Role" {
                return Err(bad(&format!(
                    "type '{}' is not supported: Threatgate grants application permissions (type 'Role') only.",
                    kind.chars().take(16).collect::<String>()
                )));
            }
            let role = known
                .find_role_by_id(AppRoleId::from_uuid(id))
                .ok_or_else(|| bad(&format!("{id} is not an application permission of {}.", known.display_name)))?;
            roles.push(RequiredAppRole { resource_app_id: known.app_id, app_role_id: role.id });
        }
    }
    Ok(roles)
}

fn password_request(value: &Value) -> Result<PasswordRequest, DirectoryFailure> {
    let object = match value {
        Value::Null => return Ok(PasswordRequest { display_name: String::new(), end: None }),
        Value::Object(object) => object,
        _ => return Err(DirectoryFailure::bad_request("A passwordCredential must be an object.")),
    };
    let display_name = match object.get("displayName") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(name)) if name.chars().count() <= 256 && !name.chars().any(char::is_control) => name.clone(),
        Some(_) => {
            return Err(DirectoryFailure::bad_request(
                "passwordCredential.displayName must be a string of at most 256 characters, without control characters.",
            ));
        }
    };
    let end = match object.get("endDateTime") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
            DirectoryFailure::bad_request(format!(
                "passwordCredential.endDateTime '{}' is not a date and time (ISO 8601, e.g. 2027-01-01T00:00:00Z).",
                text.chars().take(40).collect::<String>()
            ))
        })?),
        Some(_) => return Err(DirectoryFailure::bad_request("passwordCredential.endDateTime must be a string.")),
    };
    Ok(PasswordRequest { display_name, end })
}

/// A secret's lifetime in days from an `endDateTime` (Graph's default: two years).
fn lifetime_days(end: Option<OffsetDateTime>, now: OffsetDateTime) -> Result<i64, DirectoryFailure> {
    let Some(end) = end else { return Ok(MAX_SECRET_LIFETIME_DAYS) };
    let seconds = (end - now).whole_seconds();
    if seconds <= 0 {
        return Err(DirectoryFailure::bad_request("passwordCredential.endDateTime must be in the future."));
    }
    // Whole days, rounded up: a secret never ends before what was asked.
    let days = (seconds + 86_399) / 86_400;
    if days > MAX_SECRET_LIFETIME_DAYS {
        return Err(DirectoryFailure::bad_request(format!(
            "passwordCredential.endDateTime is more than {MAX_SECRET_LIFETIME_DAYS} days away: a secret lives at most two years."
        )));
    }
    Ok(days)
}

/// A `passwordCredential` (spec §10.3); `secret` only when just created.
fn password_json(record: &threatgate_domain::ClientSecretRecord, secret: Option<&str>) -> Value {
    json!({
        "customKeyIdentifier": null,
        "displayName": record.description,
        "endDateTime": datetime(record.end),
        "hint": record.hint,
        "keyId": record.key_id.to_string(),
        "secretText": secret,
        "startDateTime": datetime(record.start),
    })
}

/// An `application` in the documented key order (spec §10.2).
async fn application_json(
    state: &AppState,
    application: &Application,
    created_secrets: &[(threatgate_domain::ClientSecretRecord, String)],
) -> Result<Value, DirectoryFailure> {
    let tenant = state
        .store
        .find_tenant(threatgate_store::TenantKey::Id(application.home_tenant_id))
        .await?
        .map(|tenant| tenant.initial_domain.to_string())
        .unwrap_or_default();
    let mut passwords: Vec<Value> = Vec::new();
    for record in state.store.list_client_secrets(application.app_id).await? {
        let secret = created_secrets.iter().find(|(r, _)| r.key_id == record.key_id).map(|(_, value)| value.as_str());
        passwords.push(password_json(&record, secret));
    }
    let certificates: Vec<Value> = state
        .store
        .list_certificate_credentials(application.app_id)
        .await?
        .iter()
        .map(|certificate| {
            json!({
                "customKeyIdentifier": certificate.thumbprint.to_ascii_uppercase(),
                "displayName": certificate.description,
                "endDateTime": datetime(certificate.end),
                "key": null,
                "keyId": certificate.key_id.to_string(),
                "startDateTime": datetime(certificate.start),
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
            })
        })
        .collect();
    let mut required: Vec<(AppId, Vec<Value>)> = Vec::new();
    for role in &application.required_app_roles {
        let entry = json!({"id": role.app_role_id.to_string(), "type": "Role"});
        match required.iter_mut().find(|(resource, _)| *resource == role.resource_app_id) {
            Some((_, access)) => access.push(entry),
            None => required.push((role.resource_app_id, vec![entry])),
        }
    }
    let required: Vec<Value> = required
        .into_iter()
        .map(|(resource, access)| json!({"resourceAccess": access, "resourceAppId": resource.to_string()}))
        .collect();
    let redirect_uris: Vec<&str> = application.redirect_uris.iter().map(|uri| uri.as_str()).collect();
    Ok(json!({
        "id": application.object_id.to_string(),
        "deletedDateTime": null,
        "isFallbackPublicClient": null,
        "appId": application.app_id.to_string(),
        "applicationTemplateId": null,
        "identifierUris": [],
        "createdDateTime": datetime(application.created_at),
        "displayName": application.display_name.to_string(),
        "isDeviceOnlyAuthSupported": null,
        "groupMembershipClaims": null,
        "optionalClaims": null,
        "addIns": [],
        "publisherDomain": tenant,
        "samlMetadataUrl": null,
        "signInAudience": application.sign_in_audience.as_str(),
        "tags": [],
        "tokenEncryptionKeyId": null,
        "api": {"requestedAccessTokenVersion": null, "acceptMappedClaims": null, "knownClientApplications": [], "oauth2PermissionScopes": [], "preAuthorizedApplications": []},
        "appRoles": [],
        "publicClient": {"redirectUris": []},
        "info": {"termsOfServiceUrl": null, "supportUrl": null, "privacyStatementUrl": null, "marketingUrl": null, "logoUrl": null},
        "keyCredentials": certificates,
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "passwordCredentials": passwords,
        "requiredResourceAccess": required,
        "web": {"redirectUris": redirect_uris, "homePageUrl": null, "logoutUrl": null, "implicitGrantSettings": {"enableIdTokenIssuance": false, "enableAccessTokenIssuance": false}},
    }))
}

/// The acting tenant's application named by `segment` (another tenant's is not found, as in
/// Graph, where `/applications` holds the tenant's own registrations).
async fn own_application(state: &AppState, tenant: TenantId, segment: &str) -> Result<Application, DirectoryFailure> {
    let found = match key(segment)? {
        Key::App(app_id) => state.store.find_application(app_id).await?,
        Key::Object(object_id) => {
            state.store.list_applications(Some(tenant)).await?.into_iter().find(|a| a.object_id == object_id)
        }
    };
    found.filter(|application| application.home_tenant_id == tenant).ok_or_else(|| DirectoryFailure::not_found(segment))
}

/// `POST /v1.0/applications`: registers an application in the token's tenant; `201` with it.
/// `passwordCredentials: [{displayName}]` creates secrets at once (their `secretText` shown
/// this once). Needs `Application.ReadWrite.All`.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn create_application(
    State(state): State<AppState>,
    DirectoryAuthorized(scope): DirectoryAuthorized<GraphWriteApplications>,
    OriginalUri(uri): OriginalUri,
    body: Body,
) -> Result<Response, DirectoryFailure> {
    throttle(&state, &scope, Api::Directory)?;
    let request = read_application(&write_body(body).await?)?;
    let admin = admin(&state, &scope);
    let now = state.clock.now();
    let lifetimes = request.passwords.iter().map(|p| lifetime_days(p.end, now)).collect::<Result<Vec<_>, _>>()?;
    let tenant = scope.tenant().to_string();
    let mut application = admin
        .register_application(&tenant, &request.display_name, request.multi_tenant, &request.redirect_uris)
        .await?;
    if !request.roles.is_empty() {
        application = admin.add_app_roles(application.app_id, &request.roles).await?;
    }
    let mut secrets = Vec::new();
    for (password, days) in request.passwords.iter().zip(lifetimes) {
        let created = admin.add_secret(application.app_id, &password.display_name, Some(days)).await?;
        secrets.push((created.record, created.value.expose().to_owned()));
    }
    let value = application_json(&state, &application, &secrets).await?;
    let body = entity(format!("{}/$metadata#applications/$entity", base(&state, &uri)), value);
    Ok(done(created(&body), format!("application {} registered", application.app_id)))
}

/// `GET /v1.0/applications/{id}` and `/applications(appId='…')`. Needs `Application.Read.All`
/// or `Application.ReadWrite.All`.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn get_application(
    State(state): State<AppState>,
    DirectoryAuthorized(scope): DirectoryAuthorized<GraphReadApplications>,
    Path(segment): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, DirectoryFailure> {
    throttle(&state, &scope, Api::Directory)?;
    let application = own_application(&state, scope.tenant(), &segment).await?;
    let value = application_json(&state, &application, &[]).await?;
    let body = entity(format!("{}/$metadata#applications/$entity", base(&state, &uri)), value);
    Ok(done(json_response(&body), format!("application {} read", application.app_id)))
}

/// `GET /v1.0/applications`: the token tenant's registrations; `$filter` of `appId eq '…'` or
/// `displayName eq '…'`.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn list_applications(
    State(state): State<AppState>,
    DirectoryAuthorized(scope): DirectoryAuthorized<GraphReadApplications>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, DirectoryFailure> {
    throttle(&state, &scope, Api::Directory)?;
    let filter = equality_filter(&query_pairs(&uri), &["appId", "displayName"])?;
    let mut value = Vec::new();
    for application in state.store.list_applications(Some(scope.tenant())).await? {
        let keep = match &filter {
            Some(("appId", wanted)) => application.app_id.to_string().eq_ignore_ascii_case(wanted),
            Some((_, wanted)) => application.display_name.as_str() == wanted.as_str(),
            None => true,
        };
        if keep {
            value.push(application_json(&state, &application, &[]).await?);
        }
    }
    let count = value.len();
    let body = json!({"@odata.context": format!("{}/$metadata#applications", base(&state, &uri)), "value": value});
    Ok(done(json_response(&body), format!("{count} applications")))
}

/// `POST /v1.0/applications/{id}/addPassword` (also `(appId='…')`): a new secret, its
/// `secretText` shown this once; `200`. Needs `Application.ReadWrite.All`.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn add_password(
    State(state): State<AppState>,
    DirectoryAuthorized(scope): DirectoryAuthorized<GraphWriteApplications>,
    Path(segment): Path<String>,
    OriginalUri(uri): OriginalUri,
    body: Body,
) -> Result<Response, DirectoryFailure> {
    throttle(&state, &scope, Api::Directory)?;
    let body = write_body(body).await?;
    let request = match &body {
        Value::Object(object) => match object.get("passwordCredential") {
            Some(credential) => password_request(credential)?,
            None if object.keys().all(|key| key.starts_with("@odata.")) => password_request(&Value::Null)?,
            None => {
                return Err(DirectoryFailure::bad_request(
                    "The body takes one parameter, passwordCredential ({displayName, endDateTime}).",
                ));
            }
        },
        Value::Null => password_request(&Value::Null)?,
        _ => return Err(DirectoryFailure::bad_request("The body must be a JSON object.")),
    };
    let application = own_application(&state, scope.tenant(), &segment).await?;
    let days = lifetime_days(request.end, state.clock.now())?;
    let created = admin(&state, &scope).add_secret(application.app_id, &request.display_name, Some(days)).await?;
    let mut value = password_json(&created.record, Some(created.value.expose()));
    if let Value::Object(fields) = &mut value {
        let mut object = Map::new();
        object.insert(
            "@odata.context".into(),
            json!(format!("{}/$metadata#microsoft.graph.passwordCredential", base(&state, &uri))),
        );
        object.extend(std::mem::take(fields));
        value = Value::Object(object);
    }
    Ok(done(json_response(&value), format!("secret {} added to {}", created.record.key_id, application.app_id)))
}

// ---- Service principals ---------------------------------------------------------------------

/// A `servicePrincipal` (spec §10.4); a built-in resource's carries its app roles.
async fn principal_json(state: &AppState, principal: &ServicePrincipal) -> Result<Value, DirectoryFailure> {
    let (owner, names, roles, publisher) = match built_in_resource(principal.app_id) {
        Some(resource) => (
            MICROSOFT_SERVICES_TENANT.to_owned(),
            vec![principal.app_id.to_string(), resource.identifier_uri.to_owned()],
            resource
                .roles
                .iter()
                .map(|role| {
                    json!({
                        "allowedMemberTypes": ["Application"],
                        "description": role.description,
                        "displayName": role.display_name,
                        "id": role.id.to_string(),
                        "isEnabled": true,
                        "origin": "Application",
                        "value": role.value,
                    })
                })
                .collect::<Vec<_>>(),
            "Microsoft Services".to_owned(),
        ),
        None => {
            let application = state.store.find_application(principal.app_id).await?;
            let home = match &application {
                Some(application) => state
                    .store
                    .find_tenant(threatgate_store::TenantKey::Id(application.home_tenant_id))
                    .await?
                    .map(|tenant| (tenant.id.to_string(), tenant.display_name.to_string())),
                None => None,
            };
            let (owner, publisher) = home.unwrap_or_default();
            (owner, vec![principal.app_id.to_string()], Vec::new(), publisher)
        }
    };
    Ok(json!({
        "id": principal.object_id.to_string(),
        "deletedDateTime": null,
        "accountEnabled": true,
        "appDisplayName": principal.display_name,
        "appId": principal.app_id.to_string(),
        "appOwnerOrganizationId": owner,
        "appRoleAssignmentRequired": false,
        "createdDateTime": datetime(principal.created_at),
        "displayName": principal.display_name,
        "homepage": null,
        "logoutUrl": null,
        "publisherName": publisher,
        "replyUrls": [],
        "servicePrincipalNames": names,
        "servicePrincipalType": "Application",
        "tags": [],
        "addIns": [],
        "appRoles": roles,
        "info": {"termsOfServiceUrl": null, "supportUrl": null, "privacyStatementUrl": null, "marketingUrl": null, "logoUrl": null},
        "keyCredentials": [],
        "oauth2PermissionScopes": [],
        "passwordCredentials": [],
    }))
}

/// The service principal of `tenant` named by `segment`.
async fn tenant_principal(
    state: &AppState,
    tenant: TenantId,
    segment: &str,
) -> Result<ServicePrincipal, DirectoryFailure> {
    let wanted = key(segment)?;
    state
        .store
        .list_service_principals(tenant)
        .await?
        .into_iter()
        .find(|p| match wanted {
            Key::App(app_id) => p.app_id == app_id,
            Key::Object(object_id) => p.object_id == object_id,
        })
        .ok_or_else(|| DirectoryFailure::not_found(segment))
}

/// `POST /v1.0/servicePrincipals` `{"appId": …}`: the application's service principal in the
/// token's tenant, with no roles yet; `201`. Needs `Application.ReadWrite.All`.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn create_service_principal(
    State(state): State<AppState>,
    DirectoryAuthorized(scope): DirectoryAuthorized<GraphWriteApplications>,
    OriginalUri(uri): OriginalUri,
    body: Body,
) -> Result<Response, DirectoryFailure> {
    throttle(&state, &scope, Api::Directory)?;
    let body = write_body(body).await?;
    let app_id = body.get("appId").and_then(Value::as_str).and_then(AppId::parse).ok_or_else(|| {
        DirectoryFailure::bad_request("Property 'appId' is required and must be an application id (a GUID).")
    })?;
    let principal = admin(&state, &scope).create_service_principal(scope.tenant(), app_id).await.map_err(|error| {
        match error {
            AdminError::Conflict(_) => DirectoryFailure {
                status: StatusCode::CONFLICT,
                code: "Request_MultipleObjectsWithSameKeyValue",
                message: format!(
                    "The service principal cannot be created, updated, or restored because the service principal name {app_id} is already in use."
                ),
                retry_after: None,
            },
            AdminError::NotFound { .. } => DirectoryFailure::bad_request(format!(
                "The appId '{app_id}' of the service principal does not reference a valid application object."
            )),
            other => other.into(),
        }
    })?;
    let value = principal_json(&state, &principal).await?;
    let body = entity(format!("{}/$metadata#servicePrincipals/$entity", base(&state, &uri)), value);
    Ok(done(created(&body), format!("service principal {} created", principal.object_id)))
}

/// `GET /v1.0/servicePrincipals/{id}` and `/servicePrincipals(appId='…')`. Needs
/// `Application.Read.All` or `Application.ReadWrite.All`.
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn get_service_principal(
    State(state): State<AppState>,
    DirectoryAuthorized(scope): DirectoryAuthorized<GraphReadApplications>,
    Path(segment): Path<String>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, DirectoryFailure> {
    throttle(&state, &scope, Api::Directory)?;
    let principal = tenant_principal(&state, scope.tenant(), &segment).await?;
    let value = principal_json(&state, &principal).await?;
    let body = entity(format!("{}/$metadata#servicePrincipals/$entity", base(&state, &uri)), value);
    Ok(done(json_response(&body), format!("service principal {} read", principal.object_id)))
}

/// `GET /v1.0/servicePrincipals`: the token tenant's; `$filter` of `appId eq '…'` or
/// `displayName eq '…'` (how scripts find Microsoft Graph's).
#[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
pub async fn list_service_principals(
    State(state): State<AppState>,
    DirectoryAuthorized(scope): DirectoryAuthorized<GraphReadApplications>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, DirectoryFailure> {
    throttle(&state, &scope, Api::Directory)?;
    let filter = equality_filter(&query_pairs(&uri), &["appId", "displayName"])?;
    let mut value = Vec::new();
    for principal in state.store.list_service_principals(scope.tenant()).await? {
        let keep = match &filter {
            Some(("appId", wanted)) => principal.app_id.to_string().eq_ignore_ascii_case(wanted),
            Some((_, wanted)) => &principal.display_name == wanted,
            None => true,
        };
        if keep {
            value.push(principal_json(&state, &principal).await?);
        }
    }
    let count = value.len();
    let body = json!({"@odata.context": format!("{}/$metadata#servicePrincipals", base(&state, &uri)), "value": value});
    Ok(done(json_response(&body), format!("{count} service principals")))
}

/// A `$filter` of one `property eq 'value'` comparison over `properties`; other options
/// refused by name.
fn equality_filter(
    pairs: &[(String, String)],
    properties: &[&'static str],
) -> Result<Option<(&'static str, String)>, DirectoryFailure> {
    let mut found = None;
    for (name, value) in pairs {
        match name.as_str() {
            "$filter" => {
                let words: Vec<&str> = value.splitn(3, char::is_whitespace).collect();
                let [property, operator, literal] = words[..] else {
                    return Err(unsupported_filter(value, properties));
                };
                let property = properties.iter().find(|p| **p == property);
                let literal = literal.trim().strip_prefix('\'').and_then(|l| l.strip_suffix('\''));
                match (property, operator.eq_ignore_ascii_case("eq"), literal) {
                    (Some(property), true, Some(literal)) => found = Some((*property, literal.replace("''", "'"))),
                    _ => return Err(unsupported_filter(value, properties)),
                }
            }
            other if other.starts_with('$') => {
                return Err(DirectoryFailure::bad_request(format!(
                    "The query parameter '{}' is not supported here. Supported: $filter.",
                    other.chars().take(64).collect::<String>()
                )));
            }
            _ => {}
        }
    }
    Ok(found)
}

fn unsupported_filter(value: &str, properties: &[&str]) -> DirectoryFailure {
    DirectoryFailure::bad_request(format!(
        "Unsupported $filter '{}': Threatgate takes one comparison, {} eq '…'.",
        value.chars().take(80).collect::<String>(),
        properties.join(" or ")
    ))
}

// ---- App role assignments -------------------------------------------------------------------

/// An `appRoleAssignment` (spec §10.5).
fn assignment_json(assignment: &AppRoleAssignment, principals: &[ServicePrincipal]) -> Value {
    let name = |id: ObjectId| principals.iter().find(|p| p.object_id == id).map(|p| p.display_name.clone());
    json!({
        "id": assignment.id.to_string(),
        "deletedDateTime": null,
        "appRoleId": assignment.app_role_id.to_string(),
        "createdDateTime": datetime(assignment.created_at),
        "principalDisplayName": name(assignment.principal_id),
        "principalId": assignment.principal_id.to_string(),
        "principalType": "ServicePrincipal",
        "resourceDisplayName": name(assignment.resource_id),
        "resourceId": assignment.resource_id.to_string(),
    })
}

/// Which side of an assignment the path's service principal is: `appRoleAssignedTo` (the
/// resource) or `appRoleAssignments` (the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    AssignedTo,
    Assignments,
}

impl Side {
    fn segment(self) -> &'static str {
        match self {
            Side::AssignedTo => "appRoleAssignedTo",
            Side::Assignments => "appRoleAssignments",
        }
    }

    fn holds(self, principal: &ServicePrincipal, assignment: &AppRoleAssignment) -> bool {
        match self {
            Side::AssignedTo => assignment.resource_id == principal.object_id,
            Side::Assignments => assignment.principal_id == principal.object_id,
        }
    }
}

/// `POST /v1.0/servicePrincipals/{resource}/appRoleAssignedTo` (or `{client}/appRoleAssignments`)
/// `{"principalId", "resourceId", "appRoleId"}`: grants the client the role; `201`. Needs
/// `AppRoleAssignment.ReadWrite.All` and, as Graph wants, `Application.Read.All` (or
/// `.ReadWrite.All`).
pub async fn assign(
    state: AppState,
    scope: TenantScope<GraphAssignAppRoles>,
    side: Side,
    segment: String,
    uri: axum::http::Uri,
    body: Body,
) -> Result<Response, DirectoryFailure> {
    throttle(&state, &scope, Api::Directory)?;
    let body = write_body(body).await?;
    let id = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .and_then(|text| Uuid::parse_str(text).ok())
            .ok_or_else(|| DirectoryFailure::bad_request(format!("Property '{name}' is required and must be a GUID.")))
    };
    let (principal_id, resource_id, app_role_id) = (
        ObjectId::from_uuid(id("principalId")?),
        ObjectId::from_uuid(id("resourceId")?),
        AppRoleId::from_uuid(id("appRoleId")?),
    );
    let path_principal = tenant_principal(&state, scope.tenant(), &segment).await?;
    let expected = match side {
        Side::AssignedTo => resource_id,
        Side::Assignments => principal_id,
    };
    if path_principal.object_id != expected {
        return Err(DirectoryFailure::bad_request(format!(
            "The {} in the body must be the service principal of the path ({}).",
            if side == Side::AssignedTo { "resourceId" } else { "principalId" },
            path_principal.object_id
        )));
    }
    let assignment =
        admin(&state, &scope).assign_app_role(scope.tenant(), principal_id, resource_id, app_role_id).await?;
    let principals = state.store.list_service_principals(scope.tenant()).await?;
    let value = assignment_json(&assignment, &principals);
    let context = format!(
        "{}/$metadata#servicePrincipals('{}')/{}/$entity",
        base(&state, &uri),
        path_principal.object_id,
        side.segment()
    );
    Ok(done(created(&entity(context, value)), format!("app role assignment {} created", assignment.id)))
}

/// `GET /v1.0/servicePrincipals/{id}/appRoleAssignedTo` (or `…/appRoleAssignments`).
pub async fn list_assignments(
    state: AppState,
    scope: TenantScope<GraphReadApplications>,
    side: Side,
    segment: String,
    uri: axum::http::Uri,
) -> Result<Response, DirectoryFailure> {
    throttle(&state, &scope, Api::Directory)?;
    let principal = tenant_principal(&state, scope.tenant(), &segment).await?;
    let principals = state.store.list_service_principals(scope.tenant()).await?;
    let value: Vec<Value> = state
        .store
        .list_app_role_assignments(scope.tenant())
        .await?
        .iter()
        .filter(|assignment| side.holds(&principal, assignment))
        .map(|assignment| assignment_json(assignment, &principals))
        .collect();
    let count = value.len();
    let context =
        format!("{}/$metadata#servicePrincipals('{}')/{}", base(&state, &uri), principal.object_id, side.segment());
    Ok(done(
        json_response(&json!({"@odata.context": context, "value": value})),
        format!("{count} app role assignments"),
    ))
}

/// `DELETE /v1.0/servicePrincipals/{id}/appRoleAssignedTo/{assignment}` (or
/// `…/appRoleAssignments/{assignment}`): `204`.
pub async fn remove_assignment(
    state: AppState,
    scope: TenantScope<GraphAssignAppRoles>,
    side: Side,
    segment: String,
    assignment: String,
) -> Result<Response, DirectoryFailure> {
    throttle(&state, &scope, Api::Directory)?;
    let principal = tenant_principal(&state, scope.tenant(), &segment).await?;
    let id = ObjectId::parse(&assignment).ok_or_else(|| DirectoryFailure::not_found(&assignment))?;
    let held = state
        .store
        .list_app_role_assignments(scope.tenant())
        .await?
        .iter()
        .any(|a| a.id == id && side.holds(&principal, a));
    if !held {
        return Err(DirectoryFailure::not_found(&assignment));
    }
    admin(&state, &scope).remove_app_role_assignment(scope.tenant(), id).await?;
    Ok(done(StatusCode::NO_CONTENT.into_response(), format!("app role assignment {id} removed")))
}

macro_rules! side_handlers {
    ($side:expr, $post:ident, $get:ident, $delete:ident) => {
        #[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
        pub async fn $post(
            State(state): State<AppState>,
            DirectoryAuthorized(scope): DirectoryAuthorized<GraphAssignAppRoles>,
            DirectoryAuthorized(_reader): DirectoryAuthorized<GraphReadApplications>,
            Path(segment): Path<String>,
            OriginalUri(uri): OriginalUri,
            body: Body,
        ) -> Result<Response, DirectoryFailure> {
            assign(state, scope, $side, segment, uri, body).await
        }

        #[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
        pub async fn $get(
            State(state): State<AppState>,
            DirectoryAuthorized(scope): DirectoryAuthorized<GraphReadApplications>,
            Path(segment): Path<String>,
            OriginalUri(uri): OriginalUri,
        ) -> Result<Response, DirectoryFailure> {
            list_assignments(state, scope, $side, segment, uri).await
        }

        #[tracing::instrument(skip_all, fields(tenant = %scope.tenant()))]
        pub async fn $delete(
            State(state): State<AppState>,
            DirectoryAuthorized(scope): DirectoryAuthorized<GraphAssignAppRoles>,
            Path((segment, assignment)): Path<(String, String)>,
        ) -> Result<Response, DirectoryFailure> {
            remove_assignment(state, scope, $side, segment, assignment).await
        }
    };
}

side_handlers!(Side::AssignedTo, assign_to_resource, list_assigned_to, remove_assigned_to);
side_handlers!(Side::Assignments, assign_to_client, list_assignments_of, remove_assignment_of);

//! The token decoder (`/decode`): header and claims pretty-printed, each claim explained, and a
//! verdict against this server's keys, expiry and audience. Tokens are never logged or stored.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;
use threatgate_domain::{TenantId, built_in_resource_named};

use super::message;
use super::session::{PRE_SESSION_COOKIE, PortalSession, constant_time_equal, cookie, set_cookie};
use crate::state::AppState;

struct Decoded {
    header: String,
    payload: String,
    claims: Vec<(String, String, String)>,
    checks: Vec<(String, bool, String)>,
}

#[derive(Template)]
#[template(path = "decode.html")]
struct DecodePage {
    signed_in: Option<String>,
    csrf: String,
    token: String,
    problem: Option<String>,
    result: Option<Decoded>,
}

/// `GET /decode`. Public.
pub async fn page(State(state): State<AppState>, session: Option<PortalSession>) -> Response {
    render(&state, session.as_ref(), String::new(), None, None)
}

fn render(
    state: &AppState,
    session: Option<&PortalSession>,
    token: String,
    problem: Option<String>,
    result: Option<Decoded>,
) -> Response {
    let (csrf, fresh) = match session {
        Some(session) => (session.csrf.clone(), false),
        None => (threatgate_identity::random::random_base64url::<24>().unwrap_or_default(), true),
    };
    let mut response = super::page(
        StatusCode::OK,
        &DecodePage { signed_in: session.map(|s| s.upn.to_string()), csrf: csrf.clone(), token, problem, result },
    );
    if fresh {
        response.headers_mut().append(header::SET_COOKIE, set_cookie(state, PRE_SESSION_COOKIE, &csrf, 3600));
    }
    response
}

#[derive(Deserialize)]
pub struct DecodeForm {
    csrf: String,
    token: String,
}

/// `POST /decode`. Public; CSRF by session token or double-submit cookie.
pub async fn decode(
    State(state): State<AppState>,
    session: Option<PortalSession>,
    headers: HeaderMap,
    Form(form): Form<DecodeForm>,
) -> Response {
    let accepted = match &session {
        Some(session) => session.accepts(&form.csrf),
        None => cookie(&headers, PRE_SESSION_COOKIE)
            .is_some_and(|c| !c.is_empty() && constant_time_equal(c.as_bytes(), form.csrf.as_bytes())),
    };
    if !accepted {
        return message(
            StatusCode::FORBIDDEN,
            "The form has expired",
            "Reload the decoder and paste the token again.",
            None,
            session.as_ref(),
        );
    }
    let token = form.token.trim().to_owned();
    if token.len() > 16 * 1024 {
        return render(
            &state,
            session.as_ref(),
            String::new(),
            Some("That is far longer than an access token.".into()),
            None,
        );
    }
    match inspect(&state, &token) {
        Ok(result) => render(&state, session.as_ref(), token, None, Some(result)),
        Err(problem) => render(&state, session.as_ref(), token, Some(problem), None),
    }
}

fn part(text: &str) -> Result<Value, String> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).map_err(|_| "a part is not base64url".to_owned())?;
    serde_json::from_slice(&bytes).map_err(|_| "a part is not JSON".to_owned())
}

fn inspect(state: &AppState, token: &str) -> Result<Decoded, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header_text, payload_text, _] = parts.as_slice() else {
        return Err(format!("This is not a JWT: it has {} dot-separated parts instead of 3.", parts.len()));
    };
    let header = part(header_text).map_err(|e| format!("The header cannot be read: {e}."))?;
    let payload = part(payload_text).map_err(|e| format!("The payload cannot be read: {e}."))?;
    let snapshot = state.identity.snapshot();
    let now = state.clock.now().unix_timestamp();
    let mut claims = Vec::new();
    if let Some(object) = payload.as_object() {
        for (name, value) in object {
            let shown = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            claims.push((name.clone(), shown, explain(&snapshot, name, value, now)));
        }
    }
    let verdict = state.identity.verify_bearer(token);
    let exp = payload.get("exp").and_then(Value::as_i64);
    let aud = payload.get("aud").and_then(Value::as_str).unwrap_or_default();
    let checks = vec![
        (
            match &verdict {
                Ok(caller) => caller.resource.display_name.to_owned(),
                Err(_) => "API".to_owned(),
            },
            verdict.is_ok(),
            match &verdict {
                Ok(caller) => format!(
                    "accepted now, with {}",
                    if caller.roles.is_empty() { "no roles".to_owned() } else { caller.roles.join(", ") }
                ),
                Err(error) => format!("refused: {error}"),
            },
        ),
        {
            let kid = header.get("kid").and_then(Value::as_str).unwrap_or_default();
            let valid = snapshot.keys.find(kid).is_some_and(|key| {
                let signed = &token[..header_text.len() + 1 + payload_text.len()];
                URL_SAFE_NO_PAD.decode(parts[2]).is_ok_and(|signature| key.verify(signed.as_bytes(), &signature))
            });
            let text = if valid {
                format!("valid: signed by this server's key {kid}")
            } else {
                "not signed by any key this server publishes".to_owned()
            };
            ("Signature".to_owned(), valid, text)
        },
        (
            "Expiry".to_owned(),
            exp.is_some_and(|exp| exp > now),
            match exp {
                Some(exp) if exp > now => format!("expires in {} minutes", (exp - now) / 60),
                Some(exp) => format!("expired {} minutes ago", (now - exp) / 60),
                None => "no exp claim".to_owned(),
            },
        ),
        (
            "Audience".to_owned(),
            built_in_resource_named(aud).is_some(),
            match built_in_resource_named(aud) {
                Some(resource) => format!("aud is '{aud}' ({})", resource.display_name),
                None => format!("aud is '{aud}', which names no resource of this server"),
            },
        ),
    ];
    Ok(Decoded {
        header: serde_json::to_string_pretty(&header).unwrap_or_default(),
        payload: serde_json::to_string_pretty(&payload).unwrap_or_default(),
        claims,
        checks,
    })
}

fn explain(snapshot: &threatgate_identity::Snapshot, name: &str, value: &Value, now: i64) -> String {
    let time = |v: &Value| {
        v.as_i64()
            .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok().map(|at| (t, at)))
            .map(|(t, at)| {
                let relative =
                    if t > now { format!("in {} min", (t - now) / 60) } else { format!("{} min ago", (now - t) / 60) };
                format!(
                    "{} UTC ({relative})",
                    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
                )
            })
            .unwrap_or_default()
    };
    match name {
        "aud" => "Audience: the API this token is for.".into(),
        "iss" => "Issuer: the tenant's token service (v1 form).".into(),
        "iat" => format!("Issued at {}", time(value)),
        "nbf" => format!("Not valid before {}", time(value)),
        "exp" => format!("Expires at {}", time(value)),
        "appid" => {
            let name = value
                .as_str()
                .and_then(threatgate_domain::AppId::parse)
                .and_then(|id| snapshot.directory.application(id))
                .map(|entry| entry.application.display_name.to_string());
            format!("The client application{}", name.map(|n| format!(": {n}")).unwrap_or_default())
        }
        "appidacr" => match value.as_str() {
            Some("1") => "The client authenticated with a secret.".into(),
            Some("2") => "The client authenticated with a certificate.".into(),
            _ => "How the client authenticated.".into(),
        },
        "oid" | "sub" => "The client's service principal in this tenant.".into(),
        "roles" => "The application permissions granted in this tenant.".into(),
        "tid" => {
            let tenant = value.as_str().and_then(TenantId::parse).and_then(|id| snapshot.directory.tenant(id));
            format!(
                "The tenant whose data the token opens{}",
                tenant.map(|t| format!(": {}", t.display_name)).unwrap_or_default()
            )
        }
        "ver" => "Token format version.".into(),
        "idtyp" => "An application-only token.".into(),
        "uti" => "Unique token identifier.".into(),
        _ => String::new(),
    }
}

//! The identity crate's errors: [`Error`] for failures of the service itself, and
//! [`AadError`] for a client's request that Microsoft's service would refuse, carrying what
//! the AADSTS message needs. The server maps each `AadError` to its code, OAuth `error` and
//! status in one table.

use threatgate_store::StoreError;

/// A failure of the identity service (not of the client's request).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the operating system's random generator failed")]
    Random,
    #[error("key file: {0}")]
    KeyFile(String),
    #[error("generating a signing key failed: {0}")]
    KeyGeneration(String),
    #[error("a stored signing key is unusable: {0}")]
    KeyParse(String),
    #[error("signing a token failed: {0}")]
    Signing(String),
    #[error("hashing a password failed: {0}")]
    PasswordHash(String),
    #[error("there is no signing key for the current time")]
    NoSigningKey,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A request refused the way Microsoft's identity platform refuses it. `Display` is the
/// message after `AADSTS<code>: ` (`identity-protocol.md` 7.3).
#[derive(Debug, thiserror::Error)]
pub enum AadError {
    #[error("Invalid request. Request is malformed or invalid. {detail}")]
    MalformedRequest { detail: String },
    #[error("Specified tenant identifier '{segment}' is neither a valid DNS name, nor a valid external domain.")]
    InvalidTenantIdentifier { segment: String },
    #[error(
        "Tenant '{segment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
    )]
    TenantNotFound { segment: String },
    #[error("The request body must contain the following parameter: '{name}'.")]
    MissingParameter { name: &'static str },
    #[error("The app requested an unsupported grant type '{grant_type}'.")]
    UnsupportedGrantType { grant_type: String },
    #[error("The 'resource' request parameter is not supported.")]
    ResourceParameterNotSupported,
    #[error("No tenant-identifying information found in either the request or implied by any provided credentials.")]
    NoTenantIdentifyingInformation,
    #[error(
        "Application with identifier '{client_id}' was not found in the directory '{directory}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
    )]
    ApplicationNotFound { client_id: String, directory: String },
    #[error("The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")]
    MissingClientCredential,
    #[error(
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{app_id}'."
    )]
    InvalidClientSecret { app_id: String },
    #[error(
        "The provided client secret keys for app '{app_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
    )]
    ExpiredClientSecret { app_id: String },
    #[error(
        "Client assertion contains an invalid signature. [Reason - {reason}, Thumbprint of key used by client: '{thumbprint}'{detail}]"
    )]
    InvalidClientAssertionSignature { reason: &'static str, thumbprint: String, detail: String },
    #[error(
        "Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '{thumbprint}', Found key 'Start={start}, End={end}'. The certificate credential of application '{app_id}' is outside its validity period: add a current certificate (threatgate app certificate add).]"
    )]
    ExpiredCertificate { app_id: String, thumbprint: String, start: String, end: String },
    #[error("Invalid JWT token. {detail}")]
    InvalidClientAssertion { detail: String },
    #[error("Subject mismatches Issuer claim in the client assertion.")]
    AssertionSubjectMismatch,
    #[error(
        "The client_assertion_type '{assertion_type}' is not supported; use urn:ietf:params:oauth:client-assertion-type:jwt-bearer."
    )]
    UnsupportedAssertionType { assertion_type: String },
    #[error(
        "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
    )]
    ScopeWithoutDefault { scope: String },
    #[error("The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.")]
    InvalidScope { scope: String },
    #[error("The scope {scope} requests more than one resource. A client credentials request names one resource.")]
    MultipleResourcesScope { scope: String },
    #[error(
        "The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."
    )]
    ResourceNotFound { resource: String, tenant: String },
    #[error("The endpoint only accepts {allowed} requests. Received a {received} request.")]
    MethodNotAllowed { allowed: &'static str, received: String },
    #[error("Invalid request. The request body is larger than {limit} bytes.")]
    RequestTooLarge { limit: usize },
    #[error("Unknown or invalid instance.")]
    UnknownInstance,
    /// Too many token requests from one client or one address (429 with `Retry-After`).
    #[error(
        "TenantThrottlingError - There are too many incoming requests from {source_of_requests}. Try again in {retry_after_seconds} seconds."
    )]
    Throttled { source_of_requests: &'static str, retry_after_seconds: u64 },
    #[error("There was an error issuing a token or an issue with our sign-in service.")]
    Internal,
}

/// Cuts a value echoed in an error message to a readable length.
pub(crate) fn excerpt(text: &str) -> String {
    const LIMIT: usize = 256;
    if text.chars().count() <= LIMIT {
        text.to_owned()
    } else {
        text.chars().take(LIMIT).chain(std::iter::once('…')).collect()
    }
}

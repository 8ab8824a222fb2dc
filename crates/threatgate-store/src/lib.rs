//! Threatgate's storage: the traits every backend implements, and the SQLite backend.
//!
//! Callers hold an `Arc<dyn Store>` and never see SQL or a backend type. All SQL lives in the
//! backend modules, one named function per query; every query is parameterized.
//!
//! What this crate must not do: decide policy. Whether an application may be consented in a
//! tenant, what a secret's hash is, which key signs: the identity crate decides, the store
//! records.

mod audit;
mod columns;
mod copy;
mod dialect;
mod error;
mod filter_sql;
pub mod hunting;
// The modules in `shared/` are compiled into both backends, each with its own `super`.
#[allow(clippy::duplicate_mod, reason = "shared/*.rs are compiled once per backend on purpose")]
mod postgres;
mod sqlite;
pub mod testing;
mod traits;

pub use audit::{AuditRecord, AuditTrailPages, AuditTrailQuery, read_audit_trail};
pub use copy::{CopyError, CopyProgress, CopyReport, copy_store};
pub use error::{Result, StoreError};
pub use postgres::{PgSettings, PgStore};
pub use sqlite::SqliteStore;
pub use traits::{
    AccessEntry, AccessLogQuery, AccessLogStore, AccessOperation, AuditCategory, AuditEvent, AuditQuery, AuditStore,
    CheckpointStore, CommentOutcome, ConsentGrant, DirectoryData, DirectoryStore, EventPage, EventRow, EventValue,
    HuntLimits, HuntOutput, HuntRefusal, HuntingStore, IncidentPage, IncidentRecord, IncidentStore, IngestReport,
    KeyStore, MAX_ALERT_COMMENT_BYTES, MAX_ALERT_COMMENTS, QuotaCount, QuotaStore, RoleGrant, RowSink, SessionRecord,
    SessionStore, SigningKeyRecord, Store, StoredAccessEntry, StoredAuditEvent, TenantKey, TransferStore,
    UpdateOutcome,
};

//! Every store trait's implementation, written once for both backends. `sqlite/mod.rs` and
//! `postgres/mod.rs` each compile this directory as their module `shared` (`#[path]`); through
//! the names below, `super` in these files is whichever backend includes them: its store type
//! (`Backend`), its sqlx database, row and connection types, and what it spells differently
//! (`Dialect`: the backend's implementation of [`crate::dialect::Dialect`] and, for ingestion,
//! [`crate::dialect::Correlation`]).

use super::{Backend, Db, DbConnection, DbRow, Dialect, from_unix_seconds, parse_column, unix_seconds};

mod access_log;
mod audit;
mod directory;
mod export;
mod hunting;
mod incidents;
mod keys;
mod quotas;
mod sessions;

pub(super) use access_log::read_entry;
pub(super) use audit::read_event;
pub(super) use export::import_alert_comments;

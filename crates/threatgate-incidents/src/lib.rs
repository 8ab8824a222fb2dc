//! Incident rules as pure functions over the wire types: checking and normalising submitted
//! alerts, the entity keys that correlate them, building and changing incident documents
//! (join, merge, update). The store runs these inside its transactions; nothing here does IO.

mod alert_events;
mod alerts;
mod documents;
pub mod graph;
mod update;

pub use alert_events::{alert_evidence_table, alert_info_table, alert_rows};
pub use alerts::{AlertsError, IngestAlert, correlation_keys, parse_alerts, prepare_alert};
pub use documents::{
    MAX_ALERTS_PER_INCIDENT, add_alert, has_room, merge_into, new_incident, push_alert, redirect, summarize,
};
pub use update::{AlertUpdate, IncidentUpdate, MAX_INCIDENT_COMMENTS, UpdateError, apply_alert_update, apply_update};

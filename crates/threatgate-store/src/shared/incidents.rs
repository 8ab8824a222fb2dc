//! Incidents: listing with a compiled `$filter`, get, update, and ingestion with correlation.
//! Each change rewrites the incident's served document in the same transaction, and an update
//! or a correlation holds the rows it read until it commits (SQLite's write lock; PostgreSQL's
//! row locks, so that nodes sharing the database never correlate one tenant's alerts at once).
//!
//! Part of `shared` (see `mod.rs`): compiled into each backend, which `super` names; the
//! statements that differ between the two are its implementation of `crate::dialect::Correlation`.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, QueryBuilder, Row, Transaction};
use threatgate_domain::datetime::{format_ticks, parse_datetime_ticks};
use threatgate_domain::odata::{Filter, IncidentQuery};
use threatgate_domain::{
    Correlation, IncidentId, IngestAlerts, ReadIncidents, TenantScope, Ticks, WriteIncidents, correlate,
};
use threatgate_incidents::{
    AlertUpdate, IncidentUpdate, IngestAlert, alert_rows, apply_alert_update, apply_update, has_room, merge_into,
    new_incident, push_alert, redirect, summarize,
};
use threatgate_proto::Incident;
use threatgate_proto::incident::Comment;

use super::{Backend, Db, Dialect};
use crate::dialect::Correlation as _;
use crate::filter_sql::{Bind, Placeholders, compile_filter};
use crate::{
    CommentOutcome, IncidentPage, IncidentStore, IngestReport, MAX_ALERT_COMMENT_BYTES, MAX_ALERT_COMMENTS, Result,
    StoreError, UpdateOutcome,
};

fn parse_document(text: &str) -> Result<Incident> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("an incident document is unreadable: {e}")))
}

fn parse_comments(text: &str) -> Result<Vec<Comment>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("an alert's comments are unreadable: {e}")))
}

fn render(incident: &Incident) -> Result<String> {
    serde_json::to_string(incident).map_err(|e| StoreError::Corrupt(format!("an incident cannot be written: {e}")))
}

fn ticks_of(text: &str) -> i64 {
    parse_datetime_ticks(text).unwrap_or_default()
}

#[async_trait]
impl IncidentStore for Backend {
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant()))]
    async fn list_incidents(&self, scope: &TenantScope<ReadIncidents>, query: &IncidentQuery) -> Result<IncidentPage> {
        let mut sql = String::from(if query.comment_flags {
            "SELECT incident_id, document, EXISTS (SELECT 1 FROM alerts AS a WHERE a.incident_id = incidents.incident_id \
             AND a.comments IS NOT NULL) AS commented FROM incidents WHERE tenant_id = $1"
        } else {
            "SELECT incident_id, document FROM incidents WHERE tenant_id = $1"
        });
        let mut binds = Vec::new();
        if let Some(filter) = &query.filter {
            sql.push_str(" AND ");
            compile_filter(filter, Placeholders { before: 1 }, &mut sql, &mut binds);
        }
        let limit_at = binds.len() + 2;
        sql.push_str(&format!(
            " ORDER BY last_update_time DESC, incident_id DESC LIMIT ${limit_at} OFFSET ${}",
            limit_at + 1
        ));
        // Built from fixed fragments only; every value is bound.
        let mut statement = sqlx::query(AssertSqlSafe(sql)).bind(scope.tenant().to_string());
        for bind in binds {
            statement = match bind {
                Bind::Integer(value) => statement.bind(value),
                Bind::Text(value) => statement.bind(value),
            };
        }
        let limit = i64::from(query.top) + 1;
        let offset = i64::try_from(query.skip).unwrap_or(i64::MAX);
        let rows = statement.bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let more = rows.len() > query.top as usize;
        let rows = &rows[..rows.len().min(query.top as usize)];
        let ids =
            rows.iter().map(|row| row.try_get::<i64, _>(0).map(IncidentId::new)).collect::<Result<Vec<_>, _>>()?;
        let documents = rows.iter().map(|row| row.try_get::<String, _>(1)).collect::<Result<Vec<_>, _>>()?;
        let mut commented = false;
        if query.comment_flags {
            for row in rows {
                commented |= row.try_get::<bool, _>(2)?;
            }
        }
        Ok(IncidentPage { documents, ids, more, commented })
    }

    async fn count_incidents(&self, scope: &TenantScope<ReadIncidents>, filter: Option<&Filter>) -> Result<u64> {
        let mut sql = String::from("SELECT COUNT(*) FROM incidents WHERE tenant_id = $1");
        let mut binds = Vec::new();
        if let Some(filter) = filter {
            sql.push_str(" AND ");
            compile_filter(filter, Placeholders { before: 1 }, &mut sql, &mut binds);
        }
        // Built from fixed fragments only; every value is bound.
        let mut statement = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).bind(scope.tenant().to_string());
        for bind in binds {
            statement = match bind {
                Bind::Integer(value) => statement.bind(value),
                Bind::Text(value) => statement.bind(value),
            };
        }
        Ok(u64::try_from(statement.fetch_one(&self.pool).await?).unwrap_or(0))
    }

    async fn alert_incident(&self, scope: &TenantScope<ReadIncidents>, alert_id: &str) -> Result<Option<IncidentId>> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT incident_id FROM alerts WHERE tenant_id = $1 AND alert_id = $2")
                .bind(scope.tenant().to_string())
                .bind(alert_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.map(IncidentId::new))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant(), incident_id = %incident_id))]
    async fn get_incident(
        &self,
        scope: &TenantScope<ReadIncidents>,
        incident_id: IncidentId,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT document FROM incidents WHERE tenant_id = $1 AND incident_id = $2")
            .bind(scope.tenant().to_string())
            .bind(incident_id.get())
            .fetch_optional(&self.pool)
            .await?)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant(), incident_id = %incident_id))]
    async fn update_incident(
        &self,
        scope: &TenantScope<WriteIncidents>,
        incident_id: IncidentId,
        update: &IncidentUpdate,
        now: Ticks,
    ) -> Result<UpdateOutcome> {
        let mut tx = self.begin_write().await?;
        let tenant = scope.tenant().to_string();
        let Some(mut incident) = select_incident(&mut tx, &tenant, incident_id).await? else {
            return Ok(UpdateOutcome::NotFound);
        };
        if let Err(refusal) = apply_update(&mut incident, update, scope.caller_name(), now) {
            return Ok(UpdateOutcome::Refused(refusal));
        }
        write_incident(&mut tx, &incident, None).await?;
        tx.commit().await?;
        Ok(UpdateOutcome::Updated(render(&incident)?))
    }

    async fn update_alert(
        &self,
        scope: &TenantScope<WriteIncidents>,
        alert_id: &str,
        update: &AlertUpdate,
        now: Ticks,
    ) -> Result<UpdateOutcome> {
        let mut tx = self.begin_write().await?;
        let tenant = scope.tenant().to_string();
        let found: Option<i64> =
            sqlx::query_scalar("SELECT incident_id FROM alerts WHERE tenant_id = $1 AND alert_id = $2")
                .bind(&tenant)
                .bind(alert_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(incident_id) = found.map(IncidentId::new) else { return Ok(UpdateOutcome::NotFound) };
        let Some(mut incident) = select_incident(&mut tx, &tenant, incident_id).await? else {
            return Ok(UpdateOutcome::NotFound);
        };
        if !apply_alert_update(&mut incident, alert_id, update, now) {
            return Ok(UpdateOutcome::NotFound);
        }
        write_incident(&mut tx, &incident, None).await?;
        tx.commit().await?;
        Ok(UpdateOutcome::Updated(render(&incident)?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant()))]
    async fn add_alert_comment(
        &self,
        scope: &TenantScope<WriteIncidents>,
        alert_id: &str,
        comment: &str,
        now: Ticks,
    ) -> Result<CommentOutcome> {
        let mut tx = self.begin_write().await?;
        let tenant = scope.tenant().to_string();
        let found: Option<Option<String>> =
            sqlx::query_scalar("SELECT comments FROM alerts WHERE tenant_id = $1 AND alert_id = $2")
                .bind(&tenant)
                .bind(alert_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(stored) = found else { return Ok(CommentOutcome::NotFound) };
        let mut comments = match stored {
            Some(text) => parse_comments(&text)?,
            None => Vec::new(),
        };
        if comments.len() >= MAX_ALERT_COMMENTS {
            return Ok(CommentOutcome::Full);
        }
        comments.push(Comment {
            comment: comment.to_owned(),
            created_by: scope.caller_name().to_owned(),
            created_time: format_ticks(now.get()),
        });
        let text = serde_json::to_string(&comments)
            .map_err(|e| StoreError::Corrupt(format!("an alert's comments cannot be written: {e}")))?;
        if text.len() > MAX_ALERT_COMMENT_BYTES {
            return Ok(CommentOutcome::Full);
        }
        sqlx::query("UPDATE alerts SET comments = $1 WHERE tenant_id = $2 AND alert_id = $3")
            .bind(text)
            .bind(&tenant)
            .bind(alert_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(CommentOutcome::Added(comments))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant(), alerts = alert_ids.len()))]
    async fn alert_comments(
        &self,
        scope: &TenantScope<ReadIncidents>,
        alert_ids: &[&str],
    ) -> Result<HashMap<String, Vec<Comment>>> {
        // Bound parameters per statement stay well under both backends' limits.
        const IDS_PER_QUERY: usize = 500;
        // Few alerts have comments: the tenant's commented alerts found by one fixed statement
        // (the partial index), then only those of them asked about read; past a thousand, the
        // ids asked about looked up directly.
        const FEW: i64 = 1000;
        let mut found = HashMap::new();
        if alert_ids.is_empty() {
            return Ok(found);
        }
        let tenant = scope.tenant().to_string();
        // The ids only: the comments themselves are read for the alerts asked about.
        let commented: Vec<String> =
            sqlx::query_scalar("SELECT alert_id FROM alerts WHERE tenant_id = $1 AND comments IS NOT NULL LIMIT $2")
                .bind(&tenant)
                .bind(FEW + 1)
                .fetch_all(&self.pool)
                .await?;
        if commented.is_empty() {
            return Ok(found);
        }
        let asked: Vec<&str>;
        let alert_ids = if commented.len() as i64 <= FEW {
            let commented: std::collections::HashSet<&str> = commented.iter().map(String::as_str).collect();
            asked = alert_ids.iter().copied().filter(|id| commented.contains(id)).collect();
            &asked[..]
        } else {
            alert_ids
        };
        for chunk in alert_ids.chunks(IDS_PER_QUERY) {
            let mut query = QueryBuilder::<Db>::new("SELECT alert_id, comments FROM alerts WHERE tenant_id = ");
            query.push_bind(tenant.clone());
            query.push(" AND comments IS NOT NULL AND alert_id IN (");
            let mut ids = query.separated(", ");
            for id in chunk {
                ids.push_bind(*id);
            }
            query.push(")");
            for row in query.build().fetch_all(&self.pool).await? {
                let text: String = row.try_get("comments")?;
                found.insert(row.try_get("alert_id")?, parse_comments(&text)?);
            }
        }
        Ok(found)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %scope.tenant(), alerts = alerts.len()))]
    async fn ingest_alerts(
        &self,
        scope: &TenantScope<IngestAlerts>,
        alerts: Vec<IngestAlert>,
        window: i64,
    ) -> Result<IngestReport> {
        let tenant = scope.tenant().to_string();
        let mut report = IngestReport::default();
        let mut tx = self.begin_write().await?;
        Dialect::begin_ingestion(&mut tx, &tenant).await?;
        // Alert ids already known, for the whole batch in one query.
        let mut known = Dialect::known_alert_ids(&mut tx, &tenant, &alerts).await?;
        // What hunting's AlertInfo and AlertEvidence get, written once the incidents are.
        let hunting: Vec<_> = alerts
            .iter()
            .filter_map(|a| alert_rows(&a.alert).map(|(info, evidence)| (a.alert.alert_id.clone(), info, evidence)))
            .collect();
        let mut incident_ids = Dialect::start_incident_ids(&mut tx).await?;
        let mut placed: Vec<(String, IncidentId)> = Vec::with_capacity(alerts.len());
        // Incidents read or created by this batch, written once at its end.
        let mut held: BTreeMap<IncidentId, Held> = BTreeMap::new();
        for alert in alerts {
            let now = alert.received;
            if !known.insert(alert.alert.alert_id.clone()) {
                report.duplicates_skipped += 1;
                continue;
            }
            let since = Ticks(alert.first_activity.get().saturating_sub(window));
            let mut matching = Dialect::open_incidents_sharing(&mut tx, &tenant, &alert.keys, since).await?;
            let incident_id = loop {
                break match correlate(matching) {
                    Correlation::NewIncident => {
                        // The id first: it is part of the document.
                        let incident_id = Dialect::next_incident_id(&mut incident_ids, &mut tx).await?;
                        let incident = new_incident(incident_id, alert.alert.clone(), now);
                        sqlx::query(
                        "INSERT INTO incidents (incident_id, tenant_id, status, assigned_to, created_time, last_update_time, last_activity, document)
                         VALUES ($1, $2, $3, NULL, $4, $4, $5, $6)",
                    )
                    .bind(incident_id.get())
                    .bind(&tenant)
                    .bind(&incident.status)
                    .bind(now.get())
                    .bind(alert.last_activity.get())
                    .bind(render(&incident)?)
                    .execute(&mut *tx)
                    .await?;
                        held.insert(
                            incident_id,
                            Held { incident, last_activity: alert.last_activity, changed: false, redirected: false },
                        );
                        report.incidents_created += 1;
                        incident_id
                    }
                    Correlation::Join { into, merge } => {
                        let mut target = take_held(&mut held, &mut tx, &tenant, into).await?.ok_or_else(|| {
                            StoreError::Corrupt(format!("incident {into} vanished during correlation"))
                        })?;
                        if !has_room(&target.incident, 1) {
                            // Full (stored before the cap, or filled by this batch): matched no more.
                            retire_entity_keys(&mut tx, &tenant, into).await?;
                            held.insert(into, target);
                            matching = merge;
                            continue;
                        }
                        let stored_last_activity = target.last_activity;
                        for younger_id in merge {
                            let Some(mut younger) = take_held(&mut held, &mut tx, &tenant, younger_id).await? else {
                                continue;
                            };
                            if !has_room(&target.incident, younger.incident.alerts.len() + 1) {
                                // Merging would pass the cap: both stay as they are.
                                held.insert(younger_id, younger);
                                continue;
                            }
                            target.last_activity = target.last_activity.max(younger.last_activity);
                            merge_into(&mut target.incident, &mut younger.incident, now);
                            redirect(&mut younger.incident, into, now);
                            younger.changed = true;
                            younger.redirected = true;
                            held.insert(younger_id, younger);
                            // Alerts of this batch not written yet move along too.
                            for (_, placed_in) in placed.iter_mut().filter(|(_, id)| *id == younger_id) {
                                *placed_in = into;
                            }
                            move_incident_rows(&mut tx, &tenant, younger_id, into).await?;
                            report.incidents_merged += 1;
                        }
                        push_alert(&mut target.incident, alert.alert.clone(), now);
                        target.last_activity = target.last_activity.max(alert.last_activity);
                        target.changed = true;
                        // The indexed column at once, when it moved (the document waits for the
                        // batch's end): the batch's next alerts are matched against it.
                        if target.last_activity > stored_last_activity {
                            raise_last_activity(&mut tx, into, target.last_activity).await?;
                        }
                        held.insert(into, target);
                        into
                    }
                };
            };
            if held.get(&incident_id).is_some_and(|held| !has_room(&held.incident, 1)) {
                retire_entity_keys(&mut tx, &tenant, incident_id).await?;
            } else {
                Dialect::insert_entity_keys(&mut tx, &tenant, &alert.keys, incident_id).await?;
            }
            placed.push((alert.alert.alert_id.clone(), incident_id));
            report.alerts_added += 1;
        }
        for held in held.into_values().filter(|held| held.changed) {
            let Held { mut incident, last_activity, redirected, .. } = held;
            summarize(&mut incident);
            write_incident(&mut tx, &incident, (!redirected).then_some(last_activity)).await?;
        }
        Dialect::insert_alerts(&mut tx, &tenant, &placed).await?;
        tx.commit().await?;
        self.record_alert_events(&tenant, hunting).await?;
        Ok(report)
    }
}

/// An incident a batch of alerts has read or created: parsed once, changed in memory, and
/// written once when the batch is done, so that a batch adding thousands of alerts to one
/// incident costs in proportion to the alerts, not to their square.
struct Held {
    incident: Incident,
    /// The latest activity of its alerts; the indexed column holds at least this.
    last_activity: Ticks,
    /// Whether the document must be written.
    changed: bool,
    /// Merged into another incident (its `last_activity` column stays as it was).
    redirected: bool,
}

/// The held incident `incident_id`, else the stored one (locked for the batch).
async fn take_held(
    held: &mut BTreeMap<IncidentId, Held>,
    tx: &mut Transaction<'static, Db>,
    tenant: &str,
    incident_id: IncidentId,
) -> Result<Option<Held>> {
    if let Some(incident) = held.remove(&incident_id) {
        return Ok(Some(incident));
    }
    Ok(select_incident(tx, tenant, incident_id).await?.map(|incident| Held {
        last_activity: incident_last_activity(&incident),
        incident,
        changed: false,
        redirected: false,
    }))
}

/// A full incident's entity keys go, so that correlation no longer reads it (its alerts stay).
async fn retire_entity_keys(tx: &mut Transaction<'static, Db>, tenant: &str, incident_id: IncidentId) -> Result<()> {
    sqlx::query("DELETE FROM incident_entities WHERE tenant_id = $1 AND incident_id = $2")
        .bind(tenant)
        .bind(incident_id.get())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Moves an incident's indexed `last_activity` forward.
async fn raise_last_activity(
    tx: &mut Transaction<'static, Db>,
    incident_id: IncidentId,
    last_activity: Ticks,
) -> Result<()> {
    sqlx::query(
        "UPDATE incidents SET last_activity = CASE WHEN $1 > last_activity THEN $1 ELSE last_activity END
         WHERE incident_id = $2",
    )
    .bind(last_activity.get())
    .bind(incident_id.get())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn incident_last_activity(incident: &Incident) -> Ticks {
    Ticks(incident.alerts.iter().map(|alert| ticks_of(&alert.last_activity)).max().unwrap_or_default())
}

async fn select_incident(
    tx: &mut Transaction<'static, Db>,
    tenant: &str,
    incident_id: IncidentId,
) -> Result<Option<Incident>> {
    let document: Option<String> = sqlx::query_scalar(Dialect::SELECT_INCIDENT_FOR_UPDATE)
        .bind(tenant)
        .bind(incident_id.get())
        .fetch_optional(&mut **tx)
        .await?;
    document.as_deref().map(parse_document).transpose()
}

/// Writes an incident's indexed columns and document; `last_activity` moves only forward.
async fn write_incident(
    tx: &mut Transaction<'static, Db>,
    incident: &Incident,
    last_activity: Option<Ticks>,
) -> Result<()> {
    sqlx::query(
        "UPDATE incidents SET status = $1, assigned_to = $2, last_update_time = $3,
             last_activity = CASE WHEN $4 > last_activity THEN $4 ELSE last_activity END, document = $5
         WHERE incident_id = $6",
    )
    .bind(&incident.status)
    .bind(&incident.assigned_to)
    .bind(ticks_of(&incident.last_update_time))
    .bind(last_activity.map(Ticks::get))
    .bind(render(incident)?)
    .bind(incident.incident_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves a merged incident's alerts and entity keys to the incident it was merged into.
async fn move_incident_rows(
    tx: &mut Transaction<'static, Db>,
    tenant: &str,
    from: IncidentId,
    to: IncidentId,
) -> Result<()> {
    let (from, to) = (from.get(), to.get());
    sqlx::query("UPDATE alerts SET incident_id = $1 WHERE tenant_id = $2 AND incident_id = $3")
        .bind(to)
        .bind(tenant)
        .bind(from)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "INSERT INTO incident_entities (tenant_id, entity_key, incident_id)
         SELECT tenant_id, entity_key, $1 FROM incident_entities WHERE tenant_id = $2 AND incident_id = $3
         ON CONFLICT DO NOTHING",
    )
    .bind(to)
    .bind(tenant)
    .bind(from)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM incident_entities WHERE tenant_id = $1 AND incident_id = $2")
        .bind(tenant)
        .bind(from)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

//! Ingestion bodies: alerts (`POST /api/ingest/alerts`) and events of each advanced hunting
//! table (`POST /api/ingest/events/{Table}`). The first byte picks the table.
#![no_main]

use libfuzzer_sys::fuzz_target;
use threatgate_domain::Ticks;
use threatgate_hunting::events::parse_events;
use threatgate_hunting::schema::TABLES;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let _ = threatgate_incidents::parse_alerts(body, Ticks(639_000_000_000_000_000));
    if let Ok(text) = std::str::from_utf8(body) {
        let table = &TABLES[usize::from(pick) % TABLES.len()];
        let _ = parse_events(table, text);
    }
});

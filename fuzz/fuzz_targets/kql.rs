//! An advanced hunting query: parsed and bound (names, types, plan) with the service's limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &str| {
    if let Ok(parsed) = threatgate_hunting::parse(query)
        && let Ok(plan) = threatgate_hunting::bind(&parsed)
    {
        let _ = plan.fields();
    }
});

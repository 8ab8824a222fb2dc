//! Deterministic data to try Threatgate with, as `threatgate seed` and the demo load it: a seeded
//! generator of realistic alerts (`generator`) and of the hunting events that would have come
//! before and around them (`event_generator`). The same seed gives the same data. No IO.

mod dice;
pub mod event_generator;
pub mod generator;

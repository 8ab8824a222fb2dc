//! Threatgate's HTTP service: configuration, TLS, the axum routers, the mapping of errors to
//! wire shapes, and start-up. The only crate that depends on axum.
//!
//! It holds no policy: handlers read the request, call the identity service, and render
//! the answer.

pub mod aad_errors;
pub mod access_log;
pub mod api;
pub mod config;
mod connections;
pub mod data_dir;
mod drain;
pub mod emulator;
pub mod hunt_gate;
mod json;
pub mod portal;
pub mod quotas;
pub mod request_ids;
pub mod request_log;
pub mod routes;
pub mod sign_in_throttle;
pub mod startup;
pub mod state;
pub mod tls;
pub mod token_throttle;

pub use config::{Config, ConfigError};
pub use data_dir::{DataDir, DataDirError};
pub use startup::{Application, StartupError};

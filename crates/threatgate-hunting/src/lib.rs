//! Advanced hunting: the Kusto Query Language subset that Threatgate runs.
//!
//! `parse` turns query text into a [`ast::Query`], or a [`KqlError`] that says what was expected
//! where (byte span, line and column). The parser is the project's own: no maintained Rust KQL
//! parser covers joins, `let` and the string operators partners' hunting queries use.

pub mod ast;
mod bind;
mod error;
pub mod events;
pub mod functions;
mod lexer;
mod parser;
pub mod plan;
pub mod schema;

pub use bind::{MAX_LET_EXPANSION, MAX_PLAN_DEPTH, MAX_PLAN_NODES, bind};
pub use error::{ErrorKind, KqlError, Span};
pub use parser::{MAX_EXPRESSION_DEPTH, MAX_QUERY_LENGTH, parse};

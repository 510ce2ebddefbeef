//! Trellis's HTTP edge. The only crate that knows JSON shapes: it parses Notion-compatible
//! requests into the service's types, calls the `workspace` service, and renders results
//! and errors in Notion's exact shapes.

mod error;
pub mod notion;
mod platform;
mod routes;

pub use error::ApiError;
pub use routes::{Config, router};

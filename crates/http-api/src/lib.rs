//! Trellis's HTTP edge: it parses Notion-compatible requests into the service's types (with
//! `notion-json`), calls the `workspace` service, and renders results and errors in Notion's
//! exact shapes.

mod error;
mod integration_routes;
mod platform;
mod routes;

pub use error::ApiError;
pub use routes::{Config, router};

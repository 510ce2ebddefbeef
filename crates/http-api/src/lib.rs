//! Trellis's HTTP edge: it parses Notion-compatible requests into the service's types (with
//! `notion-json`), calls the `workspace` service, and renders results and errors in Notion's
//! exact shapes.

mod edge;
mod error;
mod extract;
mod integration_routes;
mod platform;
mod request;
mod routes;
mod server;

pub use edge::{
    BoundedLimiter, RATE_LIMIT_KEYS_MAX, REQUEST_HEADERS_BYTES_MAX, REQUEST_URI_BYTES_MAX,
    request_id,
};
pub use error::{ApiError, status};
pub use routes::{Config, REQUEST_TIMEOUT_MS, router};
pub use server::{ServeLimits, serve};

//! Notion's public API JSON shapes (version 2025-09-03, and 2022-06-28 where shapes allow):
//! parsing requests into domain types and rendering domain types as responses.

pub mod parse;
pub mod render;

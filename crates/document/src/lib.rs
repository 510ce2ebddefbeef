//! The workspace's domain model: pages, blocks, rich text, databases, data sources,
//! property schemas and values, and the filter and sort language over data source rows.
//!
//! This crate does no I/O and knows no wire format of the public API. Its serde derives
//! are the *storage record format* (what `storage-sql` writes into JSON columns), never the
//! Notion-compatible JSON shape, which only `http-api` knows.

pub mod block;
pub mod data_source;
pub mod error;
pub mod error_code;
pub mod filter;
pub mod ids;
pub mod limits;
pub mod markdown;
pub mod page;
pub mod property;
pub mod rich_text;
pub mod time;

pub use block::{Block, BlockKind, Color, Icon};
pub use data_source::{
    DataSource, Database, PropertyConfig, PropertySchema, SchemaEdit, SelectOption,
};
pub use error::{Error, Result};
pub use error_code::ErrorCode;
pub use filter::{Condition, Filter, Sort, SortDirection, TimestampKind};
pub use ids::Id;
pub use page::{Page, Parent, ParentRef};
pub use property::{DateValue, OptionInput, PropertyInput, PropertyValue};
pub use rich_text::{Annotations, Mention, RichText, RichTextKind};

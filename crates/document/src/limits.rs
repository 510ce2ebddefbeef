//! Size limits, the same as Notion's public API so that clients written for it behave the
//! same here. Every limit names its unit last.

/// Characters in one rich text run's `content` (and in a link URL).
pub const RICH_TEXT_CONTENT_CHARS_MAX: usize = 2_000;
/// Items in any array of a request: rich text runs, relation ids, multi-select options, people.
pub const ARRAY_ITEMS_MAX: usize = 100;
/// Blocks created by one request, counting nested children.
pub const BLOCKS_PER_REQUEST_MAX: usize = 1_000;
/// Levels of nested `children` accepted in one append request.
pub const BLOCK_NESTING_LEVELS_MAX: usize = 2;
/// Bytes in one request body.
pub const REQUEST_BODY_BYTES_MAX: usize = 500_000;
/// Results per page of any paginated list.
pub const PAGE_SIZE_MAX: usize = 100;
/// Default results per page when the client sends no `page_size`.
pub const PAGE_SIZE_DEFAULT: usize = 100;
/// Characters in a URL property or bookmark.
pub const URL_CHARS_MAX: usize = 2_000;
/// Characters in an email or phone number property.
pub const EMAIL_CHARS_MAX: usize = 200;
/// Nesting depth of compound filters (`and`/`or`), as Notion's two levels.
pub const FILTER_NESTING_LEVELS_MAX: usize = 2;
/// Properties in one data source schema.
pub const PROPERTIES_PER_DATA_SOURCE_MAX: usize = 200;
/// Characters in a property name.
pub const PROPERTY_NAME_CHARS_MAX: usize = 200;

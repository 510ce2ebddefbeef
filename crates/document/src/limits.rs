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
/// Sorts in one data source query. Each distinct sort key costs the query one more join, so
/// the list is short; Notion's own views offer far fewer.
pub const SORTS_PER_QUERY_MAX: usize = 10;
/// Leaf conditions in one query's filter, counted through every `and` and `or`.
pub const FILTER_CONDITIONS_MAX: usize = 100;
/// Levels of the page tree, a top-level page or database being level 1 and every block,
/// page, database or data source below adding one. Writes that would nest deeper are refused,
/// so every permission walk reaches the top of its tree.
pub const TREE_DEPTH_LEVELS_MAX: usize = 256;

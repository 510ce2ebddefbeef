//! The workspace capability: reads go to a [`WorkspaceHost`] the workspace service implements;
//! writes are staged in the run as [`WriteOp`]s and handed back only when the run ends `ok`.

use uuid::Uuid;

use crate::run::RunContext;

/// Why a host-side read failed. The workspace service returns these from [`WorkspaceHost`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// Missing, or not visible to the run's actor. The two must be indistinguishable.
    NotFound,
    /// An argument the service rejected (a filter that does not fit the schema, a bad cursor);
    /// the message names it and is shown to the integration.
    InvalidInput(String),
    /// The service failed. The message goes to the host's logs, not to the guest.
    Internal(String),
}

/// Which kind of object a search hit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Page,
    DataSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub text: String,
    pub kind: Option<ObjectKind>,
    pub cursor: Option<String>,
    /// 1 to 100: the host clamps what the guest asked for.
    pub page_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub id: Uuid,
    pub kind: ObjectKind,
    pub title: String,
    pub last_edited_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    pub next_cursor: Option<String>,
}

/// Where a page lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parent {
    Workspace,
    Page(Uuid),
    DataSource(Uuid),
    Block(Uuid),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub id: Uuid,
    pub parent: Parent,
    /// JSON object in the shape of Notion's page `properties`.
    pub properties: String,
    /// The content as Markdown, when it was asked for.
    pub markdown: Option<String>,
    pub in_trash: bool,
    pub created_ms: u64,
    pub last_edited_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub id: Uuid,
    /// Notion's block type, e.g. `paragraph`.
    pub kind: String,
    pub has_children: bool,
    /// The whole block as a JSON object in Notion's shape.
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BlockChildren {
    pub blocks: Vec<Block>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSourceQuery {
    pub data_source_id: Uuid,
    /// JSON filter object in the shape of Notion's data source query `filter`.
    pub filter: Option<String>,
    /// JSON array in the shape of Notion's `sorts`.
    pub sorts: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 100.
    pub page_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryResults {
    pub pages: Vec<Page>,
    pub next_cursor: Option<String>,
}

/// One hit of a semantic search.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorHit {
    pub page_id: Uuid,
    /// The block the match is in, when the index knows it.
    pub block_id: Option<Uuid>,
    /// Cosine similarity, higher is closer.
    pub score: f32,
    pub snippet: String,
}

/// Reads in the workspace on behalf of a run. The workspace service implements it.
///
/// Every call receives the run's [`RunContext`], whose `actor` is the service's own actor type
/// (the invoking user delegated to the integration). The implementation decides access itself,
/// exactly as for an API request, and answers [`HostError::NotFound`] for anything the actor may
/// not read; it writes the denial to the audit log. The runtime has already checked the
/// installation's scopes before calling.
#[async_trait::async_trait]
pub trait WorkspaceHost: Send + Sync {
    async fn search(
        &self,
        context: &RunContext,
        query: &SearchQuery,
    ) -> Result<SearchResults, HostError>;

    async fn get_page(
        &self,
        context: &RunContext,
        page_id: Uuid,
        with_markdown: bool,
    ) -> Result<Page, HostError>;

    async fn list_block_children(
        &self,
        context: &RunContext,
        block_id: Uuid,
        cursor: Option<&str>,
        page_size: u32,
    ) -> Result<BlockChildren, HostError>;

    async fn query_data_source(
        &self,
        context: &RunContext,
        query: &DataSourceQuery,
    ) -> Result<QueryResults, HostError>;

    /// Semantic search over the content the run's actor can read, best first, at most `limit`
    /// (1 to 100) hits. `None` when this host has no content index.
    async fn vector_search(
        &self,
        _context: &RunContext,
        _query: &str,
        _limit: u32,
    ) -> Result<Option<Vec<VectorHit>>, HostError> {
        Ok(None)
    }
}

/// A workspace with nothing in it: every read is `NotFound`. For runs of installations that do
/// not use the workspace, and for tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmptyWorkspace;

#[async_trait::async_trait]
impl WorkspaceHost for EmptyWorkspace {
    async fn search(&self, _: &RunContext, _: &SearchQuery) -> Result<SearchResults, HostError> {
        Ok(SearchResults::default())
    }

    async fn get_page(&self, _: &RunContext, _: Uuid, _: bool) -> Result<Page, HostError> {
        Err(HostError::NotFound)
    }

    async fn list_block_children(
        &self,
        _: &RunContext,
        _: Uuid,
        _: Option<&str>,
        _: u32,
    ) -> Result<BlockChildren, HostError> {
        Err(HostError::NotFound)
    }

    async fn query_data_source(
        &self,
        _: &RunContext,
        _: &DataSourceQuery,
    ) -> Result<QueryResults, HostError> {
        Err(HostError::NotFound)
    }
}

/// What the installation's scopes let a run do in the workspace (Notion's capabilities).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkspaceScopes {
    /// search, get-page, list-block-children, query-data-source.
    pub read_content: bool,
    /// update-properties.
    pub update_content: bool,
    /// create-page, append-blocks.
    pub insert_content: bool,
    /// add-comment.
    pub insert_comments: bool,
}

impl WorkspaceScopes {
    /// Every scope: for tests and first-party integrations.
    pub const ALL: WorkspaceScopes = WorkspaceScopes {
        read_content: true,
        update_content: true,
        insert_content: true,
        insert_comments: true,
    };

    /// Reading only.
    pub const READ: WorkspaceScopes = WorkspaceScopes {
        read_content: true,
        update_content: false,
        insert_content: false,
        insert_comments: false,
    };
}

/// New content for a page or block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Markdown, to be converted to blocks by the service.
    Markdown(String),
    /// A JSON array of Notion block objects (checked to be an array, not further).
    Blocks(String),
}

impl Content {
    fn bytes(&self) -> u64 {
        match self {
            Content::Markdown(text) | Content::Blocks(text) => text.len() as u64,
        }
    }
}

/// One write a run staged, in the order the guest made it. JSON payloads are checked to be JSON
/// of the right kind (object or array); their Notion shapes are checked by the service.
///
/// The caller applies a run's writes **in one store transaction**, in order, with the run's actor
/// and the installation's scopes, deciding access for each exactly as for an API request. If any
/// write fails, none is applied (the transaction rolls back) and the run is recorded as failed.
/// `CreatePage::page_id` is the id the new page must get: later writes of the same run may refer
/// to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    CreatePage {
        /// A UUIDv7 the host assigned.
        page_id: Uuid,
        /// Only `Page` and `DataSource` parents are staged.
        parent: Parent,
        properties: String,
        children: Option<Content>,
    },
    UpdateProperties {
        page_id: Uuid,
        properties: String,
    },
    AppendBlocks {
        block_id: Uuid,
        children: Content,
    },
    AddComment {
        page_id: Uuid,
        /// Markdown.
        text: String,
    },
}

impl WriteOp {
    /// The bytes of payload the write carries, counted against `staged_write_bytes_max`.
    pub fn payload_bytes(&self) -> u64 {
        match self {
            WriteOp::CreatePage {
                properties,
                children,
                ..
            } => properties.len() as u64 + children.as_ref().map_or(0, Content::bytes),
            WriteOp::UpdateProperties { properties, .. } => properties.len() as u64,
            WriteOp::AppendBlocks { children, .. } => children.bytes(),
            WriteOp::AddComment { text, .. } => text.len() as u64,
        }
    }

    /// The operation's name as the WIT spells it, for denials and logs.
    pub fn operation(&self) -> &'static str {
        match self {
            WriteOp::CreatePage { .. } => "create-page",
            WriteOp::UpdateProperties { .. } => "update-properties",
            WriteOp::AppendBlocks { .. } => "append-blocks",
            WriteOp::AddComment { .. } => "add-comment",
        }
    }
}

/// Why the host refused a guest's argument, as the guest will read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InvalidArgument(pub String);

/// Parses a guest-supplied id.
pub(crate) fn parse_id(argument: &str, value: &str) -> Result<Uuid, InvalidArgument> {
    Uuid::parse_str(value)
        .map_err(|_| InvalidArgument(format!("{argument} is not a UUID: {value:?}")))
}

/// Which JSON kind a guest-supplied payload must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonKind {
    Object,
    Array,
}

/// Checks that `text` is JSON of the expected kind, without keeping the parsed value.
pub(crate) fn check_json(
    argument: &str,
    text: &str,
    kind: JsonKind,
) -> Result<(), InvalidArgument> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|error| InvalidArgument(format!("{argument} is not JSON: {error}")))?;
    let fits = match kind {
        JsonKind::Object => value.is_object(),
        JsonKind::Array => value.is_array(),
    };
    if fits {
        Ok(())
    } else {
        let expected = match kind {
            JsonKind::Object => "object",
            JsonKind::Array => "array",
        };
        Err(InvalidArgument(format!(
            "{argument} must be a JSON {expected}"
        )))
    }
}

//! What a run reads through: the workspace (as the run's delegated actor), the installation's
//! key-value store and its secrets. Every workspace read goes through the `workspace` service
//! with the run's actor, so access is decided, trimmed and audited exactly as for an API
//! request by the same integration acting for the same user; nothing here decides access.

use access::Actor;
use document::Id;
use notion_json::render::{self, RenderContext};
use runtime::{
    Block, BlockChildren, DataSourceQuery, HostError, KvStore, ObjectKind, Page, Parent,
    QueryResults, RunContext, SearchHit, SearchQuery, SearchResults, SecretStore, VectorHit,
    WorkspaceHost,
};
use serde_json::Value;
use workspace::{PageView, SearchFilter, SearchRequest, SearchResult, Workspace};

/// The run's actor, as the service put it in the [`RunContext`].
fn actor(context: &RunContext) -> Result<&Actor, HostError> {
    context
        .actor::<Actor>()
        .ok_or_else(|| HostError::Internal("a run without a workspace actor".into()))
}

fn installation(context: &RunContext) -> Result<Id, HostError> {
    Id::parse(&context.installation_id)
        .ok_or_else(|| HostError::Internal("a run without an installation id".into()))
}

/// Maps a service error to what the guest may learn. `Restricted` (the user may read but not
/// do this) is `invalid-input` with the service's message, which names no hidden object.
pub(crate) fn host_error(error: workspace::Error) -> HostError {
    match error {
        workspace::Error::NotFound { .. } => HostError::NotFound,
        workspace::Error::Validation(error) => HostError::InvalidInput(error.to_string()),
        workspace::Error::Restricted(message) => HostError::InvalidInput(message),
        other => HostError::Internal(other.to_string()),
    }
}

fn store_error(error: storage_sql::Error) -> HostError {
    HostError::Internal(error.to_string())
}

fn millis(time: i64) -> u64 {
    time.max(0) as u64
}

fn parse_id(value: &str, argument: &str) -> Result<Id, HostError> {
    Id::parse(value)
        .ok_or_else(|| HostError::InvalidInput(format!("{argument} is not an id: {value:?}")))
}

/// The workspace seen by runs.
#[derive(Clone)]
pub struct WorkspaceBridge {
    workspace: Workspace,
}

impl WorkspaceBridge {
    pub fn new(workspace: Workspace) -> WorkspaceBridge {
        WorkspaceBridge { workspace }
    }

    fn page(&self, view: &PageView, markdown: Option<String>) -> Page {
        let json = render::page(
            &view.page,
            view.data_source.as_ref(),
            &RenderContext::default(),
        );
        let page = &view.page;
        Page {
            id: uuid(page.id),
            parent: match page.parent {
                document::Parent::Workspace => Parent::Workspace,
                document::Parent::Page(id) => Parent::Page(uuid(id)),
                document::Parent::Block(id) => Parent::Block(uuid(id)),
                document::Parent::DataSource { data_source_id, .. } => {
                    Parent::DataSource(uuid(data_source_id))
                }
                document::Parent::Database(id) => Parent::Page(uuid(id)),
            },
            properties: json
                .get("properties")
                .cloned()
                .unwrap_or(Value::Object(Default::default()))
                .to_string(),
            markdown,
            in_trash: page.in_trash,
            created_ms: millis(page.created_time),
            last_edited_ms: millis(page.last_edited_time),
        }
    }
}

pub(crate) fn uuid(id: Id) -> uuid::Uuid {
    uuid::Uuid::from_u128(id.as_u128())
}

pub(crate) fn id_of(id: uuid::Uuid) -> Id {
    Id::from_u128(id.as_u128())
}

#[async_trait::async_trait]
impl WorkspaceHost for WorkspaceBridge {
    async fn search(
        &self,
        context: &RunContext,
        query: &SearchQuery,
    ) -> Result<SearchResults, HostError> {
        let actor = actor(context)?;
        let page = self
            .workspace
            .search(
                actor,
                SearchRequest {
                    query: query.text.clone(),
                    filter: query.kind.map(|kind| match kind {
                        ObjectKind::Page => SearchFilter::Page,
                        ObjectKind::DataSource => SearchFilter::DataSource,
                    }),
                    ascending: false,
                    start_cursor: query.cursor.clone(),
                    page_size: Some(query.page_size as usize),
                },
            )
            .await
            .map_err(host_error)?;
        let hits = page
            .results
            .iter()
            .map(|result| match result {
                SearchResult::Page(view) => SearchHit {
                    id: uuid(view.page.id),
                    kind: ObjectKind::Page,
                    title: view.page.title(),
                    last_edited_ms: millis(view.page.last_edited_time),
                },
                SearchResult::DataSource(view) => SearchHit {
                    id: uuid(view.data_source.id),
                    kind: ObjectKind::DataSource,
                    title: document::data_source::title_plain(&view.data_source.title),
                    last_edited_ms: millis(view.data_source.last_edited_time),
                },
            })
            .collect();
        Ok(SearchResults {
            hits,
            next_cursor: page.next_cursor,
        })
    }

    async fn get_page(
        &self,
        context: &RunContext,
        page_id: uuid::Uuid,
        with_markdown: bool,
    ) -> Result<Page, HostError> {
        let actor = actor(context)?;
        let id = id_of(page_id);
        if with_markdown {
            let rendered = self
                .workspace
                .page_markdown(actor, id)
                .await
                .map_err(host_error)?;
            Ok(self.page(&rendered.page, Some(rendered.markdown)))
        } else {
            let view = self
                .workspace
                .retrieve_page(actor, id)
                .await
                .map_err(host_error)?;
            Ok(self.page(&view, None))
        }
    }

    async fn list_block_children(
        &self,
        context: &RunContext,
        block_id: uuid::Uuid,
        cursor: Option<&str>,
        page_size: u32,
    ) -> Result<BlockChildren, HostError> {
        let actor = actor(context)?;
        let cursor = cursor
            .map(|cursor| parse_id(cursor, "cursor"))
            .transpose()?;
        let page = self
            .workspace
            .list_children(actor, id_of(block_id), cursor, Some(page_size as usize))
            .await
            .map_err(host_error)?;
        let blocks = page
            .results
            .iter()
            .map(|view| Block {
                id: uuid(view.block.id),
                kind: view.block.kind.type_name().to_string(),
                has_children: view.block.has_children,
                content: render::block(&view.block, view.linked_title.as_deref()).to_string(),
            })
            .collect();
        Ok(BlockChildren {
            blocks,
            next_cursor: page.next_cursor,
        })
    }

    async fn query_data_source(
        &self,
        context: &RunContext,
        query: &DataSourceQuery,
    ) -> Result<QueryResults, HostError> {
        let actor = actor(context)?;
        let json = |text: &Option<String>, argument: &str| -> Result<Option<Value>, HostError> {
            text.as_deref()
                .map(|text| {
                    serde_json::from_str::<Value>(text).map_err(|error| {
                        HostError::InvalidInput(format!("{argument} is not JSON: {error}"))
                    })
                })
                .transpose()
        };
        let invalid = |error: document::Error| HostError::InvalidInput(error.to_string());
        let filter = match json(&query.filter, "filter")? {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                notion_json::parse::filter_with_me(
                    &value,
                    "filter",
                    actor.user().map(|user| user.id),
                )
                .map_err(invalid)?,
            ),
        };
        let sorts = match json(&query.sorts, "sorts")? {
            None | Some(Value::Null) => Vec::new(),
            Some(value) => notion_json::parse::sorts(&value, "sorts").map_err(invalid)?,
        };
        let page = self
            .workspace
            .query_data_source(
                actor,
                id_of(query.data_source_id),
                workspace::QueryRequest {
                    filter,
                    sorts,
                    start_cursor: query.cursor.clone(),
                    page_size: Some(query.page_size as usize),
                },
            )
            .await
            .map_err(host_error)?;
        Ok(QueryResults {
            pages: page
                .results
                .iter()
                .map(|view| self.page(view, None))
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// Content search in semantic mode, as the run's actor: every hit is re-checked against
    /// the store, exactly as `/v1/search` results are.
    async fn vector_search(
        &self,
        context: &RunContext,
        query: &str,
        limit: u32,
    ) -> Result<Option<Vec<VectorHit>>, HostError> {
        if !self.workspace.content_search_enabled() {
            return Ok(None);
        }
        let actor = actor(context)?;
        let hits = self
            .workspace
            .search_chunks(
                actor,
                query,
                workspace::SearchMode::Semantic,
                limit as usize,
            )
            .await
            .map_err(host_error)?;
        Ok(Some(
            hits.into_iter()
                .filter_map(|hit| {
                    Some(VectorHit {
                        page_id: uuid(hit.page_id?),
                        block_id: None,
                        score: hit.score,
                        snippet: hit.highlight.text,
                    })
                })
                .collect(),
        ))
    }
}

/// The installation's stored key-value data. Writes are applied by the service with the run's
/// other effects.
#[derive(Clone)]
pub struct StoreKv {
    workspace: Workspace,
}

impl StoreKv {
    pub fn new(workspace: Workspace) -> StoreKv {
        StoreKv { workspace }
    }
}

#[async_trait::async_trait]
impl KvStore for StoreKv {
    async fn get(&self, context: &RunContext, key: &str) -> Result<Option<Vec<u8>>, HostError> {
        let installation = installation(context)?;
        let mut tx = self.workspace.store().read().await.map_err(store_error)?;
        let value = tx.kv_get(installation, key).await.map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(value)
    }

    async fn list_keys(
        &self,
        context: &RunContext,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, HostError> {
        let installation = installation(context)?;
        let mut tx = self.workspace.store().read().await.map_err(store_error)?;
        let keys = tx
            .kv_keys(installation, prefix, limit as i64)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(keys)
    }

    async fn usage_bytes(&self, context: &RunContext) -> Result<u64, HostError> {
        let installation = installation(context)?;
        let mut tx = self.workspace.store().read().await.map_err(store_error)?;
        let bytes = tx.kv_bytes(installation).await.map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(bytes.max(0) as u64)
    }
}

/// The installation's secrets, set by an admin. Only names the manifest declares are readable.
#[derive(Clone)]
pub struct StoreSecrets {
    workspace: Workspace,
    declared: Vec<String>,
}

impl StoreSecrets {
    pub fn new(workspace: Workspace, declared: Vec<String>) -> StoreSecrets {
        StoreSecrets {
            workspace,
            declared,
        }
    }
}

#[async_trait::async_trait]
impl SecretStore for StoreSecrets {
    async fn get(&self, context: &RunContext, name: &str) -> Result<Option<String>, HostError> {
        if !self.declared.iter().any(|declared| declared == name) {
            return Err(HostError::InvalidInput(format!(
                "secret `{name}` is not declared in the manifest's scopes.secrets"
            )));
        }
        let installation = installation(context)?;
        let mut tx = self.workspace.store().read().await.map_err(store_error)?;
        let value = tx
            .secret_get(installation, name)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(value)
    }
}

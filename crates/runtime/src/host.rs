//! The store's data for one run and the host side of every `trellis:integration` interface.
//!
//! Each call first counts against `host_calls_max`, then checks the installation's grant, then
//! validates its arguments; only then does it read through the services or stage a write.
//! Outbound HTTP is `wasi:http`, implemented by wasmtime-wasi-http with our send hook
//! ([`crate::http::EgressHooks`]).

use std::time::Instant;

use uuid::Uuid;
use wasmtime::component::{HasData, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::http::EgressHooks;
use crate::kv::{KEY_BYTES_MAX, KvOverlay, KvWrite, LIST_KEYS_MAX};
use crate::limits::RunLimits;
use crate::meter::MemoryMeter;
use crate::run::{Denial, Grants, LogEntry, LogLevel, RunContext, RunStatus, Services};
use crate::secrets;
use crate::workspace::{
    self as ws, HostError, InvalidArgument, JsonKind, WriteOp, check_json, parse_id,
};

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "trellis:integration/integration",
    imports: { default: async | trappable },
    exports: { default: async },
    // `wasi:http/outgoing-handler` and what it uses are wasmtime's.
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
});

use trellis::integration::types::Error as GuestError;
use trellis::integration::{kv, log, models, secrets as wit_secrets};
use trellis::integration::{types, vector_search, workspace};

/// The most items one page of workspace results may have.
const PAGE_SIZE_MAX: u32 = 100;
/// Bytes of the guest's stdout and stderr kept (each), as log entries.
pub(crate) const STDIO_BYTES_MAX: usize = 16 << 10;

/// A host call that traps the guest: a limit that ends the run.
type HostResult<T> = wasmtime::Result<T>;

/// The data of a run's store.
pub(crate) struct RunState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    pub(crate) egress: EgressHooks,
    table: ResourceTable,
    pub(crate) meter: MemoryMeter,
    pub(crate) host: HostState,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RunState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

/// What the run's host calls read and fill in.
pub(crate) struct HostState {
    pub context: RunContext,
    pub grants: Grants,
    pub limits: RunLimits,
    pub services: Services,
    pub started: Instant,
    pub deadline: Instant,
    pub host_calls: u64,
    pub output_bytes: u64,
    /// Set by the host when it ends the run for a limit, so the trap is classified by it.
    pub limit_hit: Option<RunStatus>,
    pub logs: Vec<LogEntry>,
    pub writes: Vec<WriteOp>,
    pub staged_write_bytes: u64,
    pub kv: KvOverlay,
    pub denials: Vec<Denial>,
    /// Secret values handed out, to redact from logs.
    pub secrets_read: Vec<String>,
    pub stdout: MemoryOutputPipe,
    pub stderr: MemoryOutputPipe,
}

impl RunState {
    pub(crate) fn new(host: HostState, egress: EgressHooks, meter: MemoryMeter) -> RunState {
        // The guest gets no arguments, environment, preopened directories or sockets, and its
        // stdout and stderr are captured into the run's logs. Its HTTP goes through `egress`.
        let wasi = WasiCtx::builder()
            .stdout(host.stdout.clone())
            .stderr(host.stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        RunState {
            wasi,
            http: WasiHttpCtx::new(),
            egress,
            table: ResourceTable::new(),
            meter,
            host,
        }
    }
}

/// The workspace capability a call needs (Notion's capabilities).
#[derive(Debug, Clone, Copy)]
enum Scope {
    ReadContent,
    UpdateContent,
    InsertContent,
    InsertComments,
}

impl Scope {
    fn granted(self, scopes: &ws::WorkspaceScopes) -> bool {
        match self {
            Scope::ReadContent => scopes.read_content,
            Scope::UpdateContent => scopes.update_content,
            Scope::InsertContent => scopes.insert_content,
            Scope::InsertComments => scopes.insert_comments,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scope::ReadContent => "read content",
            Scope::UpdateContent => "update content",
            Scope::InsertContent => "insert content",
            Scope::InsertComments => "insert comments",
        }
    }
}

/// Connects the generated bindings to [`HostState`].
pub(crate) struct TrellisHost;

impl HasData for TrellisHost {
    type Data<'a> = &'a mut HostState;
}

/// Links every Trellis interface, WASI (without sockets or files) and `wasi:http` into
/// `linker`. Which of the gated interfaces (`wasi:http/outgoing-handler` among them) a component
/// may import is checked against its grants before it runs.
pub(crate) fn link_all(linker: &mut wasmtime::component::Linker<RunState>) -> wasmtime::Result<()> {
    fn host(state: &mut RunState) -> &mut HostState {
        &mut state.host
    }
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    types::add_to_linker::<RunState, TrellisHost>(linker, host)?;
    trellis::integration::events::add_to_linker::<RunState, TrellisHost>(linker, host)?;
    workspace::add_to_linker::<RunState, TrellisHost>(linker, host)?;
    models::add_to_linker::<RunState, TrellisHost>(linker, host)?;
    vector_search::add_to_linker::<RunState, TrellisHost>(linker, host)?;
    kv::add_to_linker::<RunState, TrellisHost>(linker, host)?;
    wit_secrets::add_to_linker::<RunState, TrellisHost>(linker, host)?;
    log::add_to_linker::<RunState, TrellisHost>(linker, host)?;
    Ok(())
}

impl HostState {
    /// Counts a host call; past the limit the run ends with `host_call_limit`.
    fn charge(&mut self) -> HostResult<()> {
        self.host_calls += 1;
        if self.host_calls > self.limits.host_calls_max {
            self.limit_hit = Some(RunStatus::HostCallLimit);
            return Err(wasmtime::Error::msg(format!(
                "more than {} host calls",
                self.limits.host_calls_max
            )));
        }
        Ok(())
    }

    /// Counts output bytes; past the limit the run ends with `output_limit`.
    pub(crate) fn charge_output(&mut self, bytes: u64) -> HostResult<()> {
        self.output_bytes = self.output_bytes.saturating_add(bytes);
        if self.output_bytes > self.limits.output_bytes_max {
            self.limit_hit = Some(RunStatus::OutputLimit);
            return Err(wasmtime::Error::msg(format!(
                "more than {} bytes of output",
                self.limits.output_bytes_max
            )));
        }
        Ok(())
    }

    fn deny(&mut self, operation: &str, object_id: Option<&str>, reason: &str) -> GuestError {
        self.denials.push(Denial {
            operation: operation.to_string(),
            object_id: object_id.map(str::to_string),
            reason: reason.to_string(),
        });
        GuestError::Forbidden(format!("{operation}: {reason}"))
    }

    /// Counts a workspace call and checks its scope. The outer error ends the run; the inner one
    /// is the guest's answer, and the refusal is recorded for the audit log.
    fn enter(
        &mut self,
        operation: &str,
        object_id: Option<&str>,
        scope: Scope,
    ) -> HostResult<Result<(), GuestError>> {
        self.charge()?;
        Ok(match &self.grants.workspace {
            Some(scopes) if scope.granted(scopes) => Ok(()),
            Some(_) => Err(self.deny(
                operation,
                object_id,
                &format!("the installation lacks the {} scope", scope.name()),
            )),
            None => Err(self.deny(operation, object_id, "the workspace was not granted")),
        })
    }

    /// Stages a write after the scope and size checks.
    fn stage(&mut self, write: WriteOp) -> Result<(), GuestError> {
        let bytes = write.payload_bytes();
        if self.staged_write_bytes + bytes > self.limits.staged_write_bytes_max {
            return Err(GuestError::LimitExceeded(format!(
                "{}: staged writes would exceed {} bytes",
                write.operation(),
                self.limits.staged_write_bytes_max
            )));
        }
        self.staged_write_bytes += bytes;
        self.writes.push(write);
        Ok(())
    }

    fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

impl From<InvalidArgument> for GuestError {
    fn from(invalid: InvalidArgument) -> GuestError {
        GuestError::InvalidInput(invalid.0)
    }
}

/// Maps a service error for the guest. Internal details stay on the host.
fn guest_error(operation: &str, error: HostError) -> GuestError {
    match error {
        HostError::NotFound => GuestError::NotFound(format!("{operation}: not found")),
        HostError::InvalidInput(message) => GuestError::InvalidInput(message),
        HostError::Internal(_) => {
            GuestError::Internal(format!("{operation}: the workspace failed; retry later"))
        }
    }
}

fn clamp_page_size(page_size: u32) -> u32 {
    page_size.clamp(1, PAGE_SIZE_MAX)
}

fn to_wit_page(page: ws::Page) -> workspace::Page {
    workspace::Page {
        id: page.id.to_string(),
        parent: match page.parent {
            ws::Parent::Workspace => workspace::Parent::Workspace,
            ws::Parent::Page(id) => workspace::Parent::Page(id.to_string()),
            ws::Parent::DataSource(id) => workspace::Parent::DataSource(id.to_string()),
            ws::Parent::Block(id) => workspace::Parent::Block(id.to_string()),
        },
        properties: page.properties,
        markdown: page.markdown,
        in_trash: page.in_trash,
        created_ms: page.created_ms,
        last_edited_ms: page.last_edited_ms,
    }
}

fn object_kind(kind: ws::ObjectKind) -> workspace::ObjectKind {
    match kind {
        ws::ObjectKind::Page => workspace::ObjectKind::Page,
        ws::ObjectKind::DataSource => workspace::ObjectKind::DataSource,
    }
}

fn content(children: workspace::Content) -> Result<ws::Content, InvalidArgument> {
    match children {
        workspace::Content::Markdown(text) => Ok(ws::Content::Markdown(text)),
        workspace::Content::Blocks(json) => {
            check_json("children", &json, JsonKind::Array)?;
            Ok(ws::Content::Blocks(json))
        }
    }
}

impl types::Host for HostState {}

impl trellis::integration::events::Host for HostState {}

impl workspace::Host for HostState {
    async fn search(
        &mut self,
        query: workspace::SearchQuery,
    ) -> HostResult<Result<workspace::SearchResults, GuestError>> {
        if let Err(error) = self.enter("search", None, Scope::ReadContent)? {
            return Ok(Err(error));
        }
        let query = ws::SearchQuery {
            text: query.text,
            kind: query.kind.map(|kind| match kind {
                workspace::ObjectKind::Page => ws::ObjectKind::Page,
                workspace::ObjectKind::DataSource => ws::ObjectKind::DataSource,
            }),
            cursor: query.cursor,
            page_size: clamp_page_size(query.page_size),
        };
        let services = self.services.workspace.clone();
        Ok(match services.search(&self.context, &query).await {
            Ok(results) => Ok(workspace::SearchResults {
                hits: results
                    .hits
                    .into_iter()
                    .map(|hit| workspace::SearchHit {
                        id: hit.id.to_string(),
                        kind: object_kind(hit.kind),
                        title: hit.title,
                        last_edited_ms: hit.last_edited_ms,
                    })
                    .collect(),
                next_cursor: results.next_cursor,
            }),
            Err(error) => Err(guest_error("search", error)),
        })
    }

    async fn get_page(
        &mut self,
        page_id: String,
        with_markdown: bool,
    ) -> HostResult<Result<workspace::Page, GuestError>> {
        if let Err(error) = self.enter("get-page", Some(&page_id), Scope::ReadContent)? {
            return Ok(Err(error));
        }
        let id = match parse_id("page-id", &page_id) {
            Ok(id) => id,
            Err(invalid) => return Ok(Err(invalid.into())),
        };
        let services = self.services.workspace.clone();
        Ok(services
            .get_page(&self.context, id, with_markdown)
            .await
            .map(to_wit_page)
            .map_err(|error| guest_error("get-page", error)))
    }

    async fn list_block_children(
        &mut self,
        block_id: String,
        cursor: Option<String>,
        page_size: u32,
    ) -> HostResult<Result<workspace::BlockChildren, GuestError>> {
        if let Err(error) =
            self.enter("list-block-children", Some(&block_id), Scope::ReadContent)?
        {
            return Ok(Err(error));
        }
        let id = match parse_id("block-id", &block_id) {
            Ok(id) => id,
            Err(invalid) => return Ok(Err(invalid.into())),
        };
        let services = self.services.workspace.clone();
        let children = services
            .list_block_children(
                &self.context,
                id,
                cursor.as_deref(),
                clamp_page_size(page_size),
            )
            .await;
        Ok(match children {
            Ok(children) => Ok(workspace::BlockChildren {
                blocks: children
                    .blocks
                    .into_iter()
                    .map(|block| workspace::Block {
                        id: block.id.to_string(),
                        kind: block.kind,
                        has_children: block.has_children,
                        content: block.content,
                    })
                    .collect(),
                next_cursor: children.next_cursor,
            }),
            Err(error) => Err(guest_error("list-block-children", error)),
        })
    }

    async fn query_data_source(
        &mut self,
        query: workspace::DataSourceQuery,
    ) -> HostResult<Result<workspace::QueryResults, GuestError>> {
        if let Err(error) = self.enter(
            "query-data-source",
            Some(&query.data_source_id),
            Scope::ReadContent,
        )? {
            return Ok(Err(error));
        }
        let checked = (|| -> Result<ws::DataSourceQuery, InvalidArgument> {
            let data_source_id = parse_id("data-source-id", &query.data_source_id)?;
            if let Some(filter) = &query.filter {
                check_json("filter", filter, JsonKind::Object)?;
            }
            if let Some(sorts) = &query.sorts {
                check_json("sorts", sorts, JsonKind::Array)?;
            }
            Ok(ws::DataSourceQuery {
                data_source_id,
                filter: query.filter.clone(),
                sorts: query.sorts.clone(),
                cursor: query.cursor.clone(),
                page_size: clamp_page_size(query.page_size),
            })
        })();
        let query = match checked {
            Ok(query) => query,
            Err(invalid) => return Ok(Err(invalid.into())),
        };
        let services = self.services.workspace.clone();
        Ok(
            match services.query_data_source(&self.context, &query).await {
                Ok(results) => Ok(workspace::QueryResults {
                    pages: results.pages.into_iter().map(to_wit_page).collect(),
                    next_cursor: results.next_cursor,
                }),
                Err(error) => Err(guest_error("query-data-source", error)),
            },
        )
    }

    async fn create_page(
        &mut self,
        parent: workspace::Parent,
        properties: String,
        children: Option<workspace::Content>,
    ) -> HostResult<Result<String, GuestError>> {
        let parent_id = match &parent {
            workspace::Parent::Page(id)
            | workspace::Parent::DataSource(id)
            | workspace::Parent::Block(id) => Some(id.as_str()),
            workspace::Parent::Workspace => None,
        };
        if let Err(error) = self.enter("create-page", parent_id, Scope::InsertContent)? {
            return Ok(Err(error));
        }
        let staged = (|| -> Result<WriteOp, InvalidArgument> {
            let parent = match &parent {
                workspace::Parent::Page(id) => ws::Parent::Page(parse_id("parent", id)?),
                workspace::Parent::DataSource(id) => {
                    ws::Parent::DataSource(parse_id("parent", id)?)
                }
                workspace::Parent::Workspace | workspace::Parent::Block(_) => {
                    return Err(InvalidArgument(
                        "parent must be a page or a data source".into(),
                    ));
                }
            };
            check_json("properties", &properties, JsonKind::Object)?;
            let children = children.map(content).transpose()?;
            Ok(WriteOp::CreatePage {
                page_id: Uuid::now_v7(),
                parent,
                properties,
                children,
            })
        })();
        let write = match staged {
            Ok(write) => write,
            Err(invalid) => return Ok(Err(invalid.into())),
        };
        let WriteOp::CreatePage { page_id, .. } = &write else {
            unreachable!("create-page stages a CreatePage");
        };
        let page_id = page_id.to_string();
        Ok(self.stage(write).map(|()| page_id))
    }

    async fn update_properties(
        &mut self,
        page_id: String,
        properties: String,
    ) -> HostResult<Result<(), GuestError>> {
        if let Err(error) = self.enter("update-properties", Some(&page_id), Scope::UpdateContent)? {
            return Ok(Err(error));
        }
        let staged = parse_id("page-id", &page_id).and_then(|page_id| {
            check_json("properties", &properties, JsonKind::Object)?;
            Ok(WriteOp::UpdateProperties {
                page_id,
                properties,
            })
        });
        Ok(match staged {
            Ok(write) => self.stage(write),
            Err(invalid) => Err(invalid.into()),
        })
    }

    async fn append_blocks(
        &mut self,
        block_id: String,
        children: workspace::Content,
    ) -> HostResult<Result<(), GuestError>> {
        if let Err(error) = self.enter("append-blocks", Some(&block_id), Scope::InsertContent)? {
            return Ok(Err(error));
        }
        let staged = parse_id("block-id", &block_id).and_then(|block_id| {
            Ok(WriteOp::AppendBlocks {
                block_id,
                children: content(children)?,
            })
        });
        Ok(match staged {
            Ok(write) => self.stage(write),
            Err(invalid) => Err(invalid.into()),
        })
    }

    async fn add_comment(
        &mut self,
        page_id: String,
        text: String,
    ) -> HostResult<Result<(), GuestError>> {
        if let Err(error) = self.enter("add-comment", Some(&page_id), Scope::InsertComments)? {
            return Ok(Err(error));
        }
        if text.trim().is_empty() {
            return Ok(Err(GuestError::InvalidInput("text is empty".into())));
        }
        Ok(match parse_id("page-id", &page_id) {
            Ok(page_id) => self.stage(WriteOp::AddComment { page_id, text }),
            Err(invalid) => Err(invalid.into()),
        })
    }
}

fn not_available(what: &str) -> GuestError {
    GuestError::NotAvailable(format!("{what} is not available on this host yet"))
}

impl models::Host for HostState {
    async fn complete(
        &mut self,
        _request: models::CompletionRequest,
    ) -> HostResult<Result<models::Completion, GuestError>> {
        self.charge()?;
        if !self.grants.models {
            return Ok(Err(self.deny(
                "models.complete",
                None,
                "models were not granted",
            )));
        }
        Ok(Err(not_available("models.complete")))
    }

    async fn embed(
        &mut self,
        _texts: Vec<String>,
    ) -> HostResult<Result<Vec<Vec<f32>>, GuestError>> {
        self.charge()?;
        if !self.grants.models {
            return Ok(Err(self.deny(
                "models.embed",
                None,
                "models were not granted",
            )));
        }
        Ok(Err(not_available("models.embed")))
    }
}

impl vector_search::Host for HostState {
    async fn search(
        &mut self,
        query: String,
        limit: u32,
    ) -> HostResult<Result<Vec<vector_search::Hit>, GuestError>> {
        self.charge()?;
        if !self.grants.vector_search {
            return Ok(Err(self.deny(
                "vector-search.search",
                None,
                "vector search was not granted",
            )));
        }
        let services = self.services.workspace.clone();
        Ok(
            match services
                .vector_search(&self.context, &query, clamp_page_size(limit))
                .await
            {
                Ok(Some(hits)) => Ok(hits
                    .into_iter()
                    .map(|hit| vector_search::Hit {
                        page_id: hit.page_id.to_string(),
                        block_id: hit.block_id.map(|id| id.to_string()),
                        score: hit.score,
                        snippet: hit.snippet,
                    })
                    .collect()),
                Ok(None) => Err(not_available("vector-search.search")),
                Err(error) => Err(guest_error("vector-search.search", error)),
            },
        )
    }
}

fn check_key(key: &str) -> Result<(), GuestError> {
    if key.is_empty() || key.len() > KEY_BYTES_MAX {
        return Err(GuestError::InvalidInput(format!(
            "key must be 1 to {KEY_BYTES_MAX} bytes"
        )));
    }
    Ok(())
}

impl HostState {
    fn kv_granted(&mut self, operation: &str) -> Result<(), GuestError> {
        if self.grants.kv {
            Ok(())
        } else {
            Err(self.deny(operation, None, "the key-value store was not granted"))
        }
    }

    /// The key's value as the run sees it: staged, else stored.
    async fn kv_current(&self, key: &str) -> Result<Option<Vec<u8>>, GuestError> {
        match self.kv.staged(key) {
            Some(staged) => Ok(staged.map(<[u8]>::to_vec)),
            None => self
                .services
                .kv
                .get(&self.context, key)
                .await
                .map_err(|error| guest_error("kv.get", error)),
        }
    }

    async fn kv_stage(&mut self, write: KvWrite) -> Result<(), GuestError> {
        let key = match &write {
            KvWrite::Set { key, .. } | KvWrite::Delete { key } => key.clone(),
        };
        if self.kv.usage_bytes().is_none() {
            let usage = self
                .services
                .kv
                .usage_bytes(&self.context)
                .await
                .map_err(|error| guest_error("kv", error))?;
            self.kv.set_usage_bytes(usage);
        }
        let current = self.kv_current(&key).await?;
        let kv_bytes_max = self.limits.kv_bytes_max;
        self.kv
            .stage(write, current.map(|value| value.len() as u64), kv_bytes_max)
            .map_err(|usage| {
                GuestError::LimitExceeded(format!(
                    "the store would hold {usage} bytes; the limit is {kv_bytes_max}"
                ))
            })
    }
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> HostResult<Result<Option<Vec<u8>>, GuestError>> {
        self.charge()?;
        if let Err(error) = self.kv_granted("kv.get").and_then(|()| check_key(&key)) {
            return Ok(Err(error));
        }
        Ok(self.kv_current(&key).await)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> HostResult<Result<(), GuestError>> {
        self.charge()?;
        if let Err(error) = self.kv_granted("kv.set").and_then(|()| check_key(&key)) {
            return Ok(Err(error));
        }
        Ok(self.kv_stage(KvWrite::Set { key, value }).await)
    }

    async fn delete(&mut self, key: String) -> HostResult<Result<(), GuestError>> {
        self.charge()?;
        if let Err(error) = self.kv_granted("kv.delete").and_then(|()| check_key(&key)) {
            return Ok(Err(error));
        }
        Ok(self.kv_stage(KvWrite::Delete { key }).await)
    }

    async fn list_keys(&mut self, prefix: String) -> HostResult<Result<Vec<String>, GuestError>> {
        self.charge()?;
        if let Err(error) = self.kv_granted("kv.list-keys") {
            return Ok(Err(error));
        }
        // Ask for more than the limit, so that keys deleted in this run do not shorten the page.
        let stored = self
            .services
            .kv
            .list_keys(&self.context, &prefix, LIST_KEYS_MAX * 2)
            .await;
        Ok(match stored {
            Ok(stored) => Ok(self.kv.list(stored, &prefix, LIST_KEYS_MAX)),
            Err(error) => Err(guest_error("kv.list-keys", error)),
        })
    }
}

impl wit_secrets::Host for HostState {
    async fn get(&mut self, name: String) -> HostResult<Result<Option<String>, GuestError>> {
        self.charge()?;
        if !self.grants.secrets {
            return Ok(Err(self.deny(
                "secrets.get",
                None,
                "secrets were not granted",
            )));
        }
        let services = self.services.secrets.clone();
        Ok(match services.get(&self.context, &name).await {
            Ok(value) => {
                if let Some(value) = &value {
                    self.secrets_read.push(value.clone());
                }
                Ok(value)
            }
            Err(error) => Err(guest_error("secrets.get", error)),
        })
    }
}

impl log::Host for HostState {
    async fn write(
        &mut self,
        level: log::Level,
        message: String,
        fields: Vec<(String, String)>,
    ) -> HostResult<()> {
        self.charge()?;
        let bytes = message.len()
            + fields
                .iter()
                .map(|(key, value)| key.len() + value.len())
                .sum::<usize>();
        self.charge_output(bytes as u64)?;
        let level = match level {
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        let at_ms = self.elapsed_ms();
        self.logs.push(LogEntry {
            at_ms,
            level,
            message,
            fields,
        });
        Ok(())
    }
}

impl HostState {
    /// Log entries with secrets redacted, plus what the guest wrote to stdout and stderr.
    pub(crate) fn finish_logs(&mut self) -> Vec<LogEntry> {
        let at_ms = self.elapsed_ms();
        let mut logs = std::mem::take(&mut self.logs);
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let contents = pipe.contents();
            if !contents.is_empty() {
                logs.push(LogEntry {
                    at_ms,
                    level: LogLevel::Warn,
                    message: String::from_utf8_lossy(&contents).into_owned(),
                    fields: vec![("stream".into(), stream.into())],
                });
            }
        }
        if !self.secrets_read.is_empty() {
            for entry in &mut logs {
                entry.message = secrets::redact(&entry.message, &self.secrets_read);
                for (_, value) in &mut entry.fields {
                    *value = secrets::redact(value, &self.secrets_read);
                }
            }
        }
        logs
    }
}

//! The engine, the compiled-component cache and the run loop.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, types::ComponentItem};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
    UpdateDeadline,
};

use crate::cache::{ComponentDigest, DiskCache};
use crate::error::{Error, Result};
use crate::host::{self, HostState, IntegrationPre, RunState, STDIO_BYTES_MAX};
use crate::http::{EgressCaps, EgressHooks, HttpSender, SharedEgressLog};
use crate::kv::KvOverlay;
use crate::limits::{RunLimits, RuntimeConfig};
use crate::meter::MemoryMeter;
use crate::run::{
    Event, Grants, InvokeSource, Output, RunOutcome, RunRecord, RunRequest, RunStatus, Usage,
    WebhookResponse,
};

/// The interfaces a component may import only when its installation is granted them: those of
/// `trellis:integration` behind a scope, and `wasi:http/outgoing-handler` (outbound HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Workspace,
    Models,
    VectorSearch,
    Http,
    Kv,
    Secrets,
}

impl Capability {
    const ALL: [Capability; 6] = [
        Capability::Workspace,
        Capability::Models,
        Capability::VectorSearch,
        Capability::Http,
        Capability::Kv,
        Capability::Secrets,
    ];

    /// The capability's short name, as package listings show it: the interface's name in
    /// `trellis:integration`, or `http` for `wasi:http/outgoing-handler`.
    pub fn interface(self) -> &'static str {
        match self {
            Capability::Workspace => "workspace",
            Capability::Models => "models",
            Capability::VectorSearch => "vector-search",
            Capability::Http => "http",
            Capability::Kv => "kv",
            Capability::Secrets => "secrets",
        }
    }

    /// The import that needs the grant, without its version: `trellis:integration/kv`,
    /// `wasi:http/outgoing-handler`.
    pub fn import(self) -> &'static str {
        match self {
            Capability::Workspace => "trellis:integration/workspace",
            Capability::Models => "trellis:integration/models",
            Capability::VectorSearch => "trellis:integration/vector-search",
            Capability::Http => "wasi:http/outgoing-handler",
            Capability::Kv => "trellis:integration/kv",
            Capability::Secrets => "trellis:integration/secrets",
        }
    }

    fn granted(self, grants: &Grants) -> bool {
        match self {
            Capability::Workspace => grants.workspace.is_some(),
            Capability::Models => grants.models,
            Capability::VectorSearch => grants.vector_search,
            Capability::Http => grants.http.is_some(),
            Capability::Kv => grants.kv,
            Capability::Secrets => grants.secrets,
        }
    }
}

/// Ended runs' memories, tables and stacks the pooling allocator gives back to the kernel in one
/// batch (one `process_madvise` on Linux), instead of one `madvise` each. Each decommit made the
/// kernel interrupt the other core to flush its TLB: at 7,000 runs a second those interrupts took
/// about a quarter of the CPU (measured with `perf`, docs/benchmarks.md). Slots waiting in a batch
/// are not free; an allocation that finds none flushes the batch first.
const DECOMMIT_BATCH_SIZE: usize = 16;

/// Linear memory of an ended run that the pooling allocator resets in place (copying back the
/// memory image, zeroing the rest) instead of giving it back to the kernel, in bytes per memory.
/// With `PAGEMAP_SCAN` (Linux 6.7 and later) only the pages the run wrote are reset; on older
/// kernels the lowest this many bytes are. Pages kept this way stay mapped and private to the
/// slot, so the next run of the same component writes them without a copy-on-write fault, and no
/// `madvise` makes the kernel interrupt the other core to flush its TLB. A Rust guest's stack,
/// data and small heap fit; what a larger guest wrote beyond this is decommitted as before.
const LINEAR_MEMORY_KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// The same for tables, in bytes per table.
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;

/// How Trellis's pooling allocator gives back what an ended run used: decommits in batches,
/// and memory and tables reset in place up to a bound (see the constants). Public so that the
/// invocation benchmark's bare wasmtime host can use the same settings.
pub fn tune_pool(pool: &mut PoolingAllocationConfig) {
    pool.decommit_batch_size(DECOMMIT_BATCH_SIZE)
        .linear_memory_keep_resident(LINEAR_MEMORY_KEEP_RESIDENT_BYTES)
        .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES)
        .pagemap_scan(wasmtime::Enabled::Auto);
}

/// Trellis interfaces that hold only types or are always granted.
const UNGATED: [&str; 3] = [
    "trellis:integration/types",
    "trellis:integration/events",
    "trellis:integration/log",
];

/// A compiled component, ready to instantiate. Cheap to clone.
#[derive(Clone)]
pub struct LoadedComponent {
    digest: ComponentDigest,
    pre: IntegrationPre<RunState>,
    capabilities: Vec<Capability>,
    from_disk_cache: bool,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("LoadedComponent")
            .field("digest", &self.digest)
            .field("capabilities", &self.capabilities)
            .field("from_disk_cache", &self.from_disk_cache)
            .finish_non_exhaustive()
    }
}

impl LoadedComponent {
    pub fn digest(&self) -> ComponentDigest {
        self.digest
    }

    /// The gated interfaces the component imports: what its installation must be granted.
    pub fn capabilities(&self) -> &[Capability] {
        &self.capabilities
    }

    /// Whether it was loaded from the on-disk cache rather than compiled.
    pub fn from_disk_cache(&self) -> bool {
        self.from_disk_cache
    }

    /// Refuses grants that do not cover the component's imports, naming the first missing one
    /// in a fixed order (Trellis's interfaces, then `wasi:http/outgoing-handler`, ...).
    pub fn check_grants(&self, grants: &Grants) -> Result<()> {
        match Capability::ALL.into_iter().find(|capability| {
            self.capabilities.contains(capability) && !capability.granted(grants)
        }) {
            Some(missing) => Err(Error::CapabilityNotGranted {
                interface: missing.import().to_string(),
            }),
            None => Ok(()),
        }
    }
}

/// Compiled components kept in memory, oldest first out.
#[derive(Default)]
struct Loaded {
    components: HashMap<ComponentDigest, LoadedComponent>,
    order: VecDeque<ComponentDigest>,
}

/// Runs integrations. One per process: it owns the engine, its epoch ticker thread, the
/// instance pool and the compiled-component caches. Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<RunState>,
    disk_cache: Option<DiskCache>,
    loaded: Mutex<Loaded>,
    http: Arc<HttpSender>,
    config: RuntimeConfig,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> Result<Runtime> {
        if config.concurrent_runs_max == 0 {
            return Err(Error::InvalidConfig(
                "concurrent_runs_max must be at least 1".into(),
            ));
        }
        if config.epoch_tick_ms == 0 {
            return Err(Error::InvalidConfig(
                "epoch_tick_ms must be at least 1".into(),
            ));
        }
        if config.core_instances_per_run_max == 0 {
            return Err(Error::InvalidConfig(
                "core_instances_per_run_max must be at least 1".into(),
            ));
        }
        if config.wasm_stack_bytes_max < 64 << 10 {
            return Err(Error::InvalidConfig(
                "wasm_stack_bytes_max must be at least 64 KiB".into(),
            ));
        }
        let memory_ceiling = usize::try_from(config.memory_bytes_max_ceiling)
            .map_err(|_| Error::InvalidConfig("memory_bytes_max_ceiling is too large".into()))?;

        let runs = config.concurrent_runs_max;
        let per_run = config.core_instances_per_run_max;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(runs)
            .total_core_instances(runs.saturating_mul(per_run).min(10_000))
            .total_memories(runs.saturating_mul(2))
            .total_tables(runs.saturating_mul(4))
            .total_stacks(runs)
            .max_core_instances_per_component(per_run)
            .max_memories_per_component(per_run.min(8))
            .max_tables_per_component(per_run.min(16))
            .max_memory_size(memory_ceiling);
        tune_pool(&mut pool);

        let mut engine_config = Config::new();
        engine_config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(config.wasm_stack_bytes_max)
            // The fiber a run executes on holds the wasm stack plus the host's own frames.
            .async_stack_size(config.wasm_stack_bytes_max + (1 << 20))
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&engine_config)
            .map_err(|error| Error::InvalidConfig(format!("engine: {error:#}")))?;

        let mut linker = Linker::new(&engine);
        host::link_all(&mut linker).map_err(|error| Error::Internal(format!("{error:#}")))?;

        let disk_cache = match &config.cache_dir {
            Some(dir) => Some(
                DiskCache::new(dir.clone(), engine_fingerprint(&engine)).map_err(|error| {
                    Error::InvalidConfig(format!("cache_dir {}: {error}", dir.display()))
                })?,
            ),
            None => None,
        };
        let http = HttpSender::new(config.allow_private_networks).map_err(Error::Internal)?;
        start_epoch_ticker(&engine, Duration::from_millis(config.epoch_tick_ms))?;
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                disk_cache,
                loaded: Mutex::new(Loaded::default()),
                http: Arc::new(http),
                config,
            }),
        })
    }

    /// Compiles a component, or takes it from the memory or disk cache. Checks that it exports
    /// the entry point and imports only what Trellis provides. Compiling a large component takes
    /// seconds: call this once at install time, or from a blocking thread.
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedComponent> {
        let digest = ComponentDigest::of(bytes);
        if let Some(loaded) = self.loaded().components.get(&digest) {
            return Ok(loaded.clone());
        }
        let (component, from_disk_cache) = self.compile(&digest, bytes)?;
        let capabilities = self.check_imports(&component)?;
        let instance_pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|error| Error::UnsupportedImport {
                import: format!("{error:#}"),
            })?;
        let pre = IntegrationPre::new(instance_pre).map_err(|error| {
            Error::InvalidComponent(format!(
                "it does not export the trellis:integration entry point: {error:#}"
            ))
        })?;
        let loaded = LoadedComponent {
            digest,
            pre,
            capabilities,
            from_disk_cache,
        };
        let mut cache = self.loaded();
        if cache.components.insert(digest, loaded.clone()).is_none() {
            cache.order.push_back(digest);
        }
        while cache.components.len() > self.inner.config.loaded_components_max.max(1) {
            if let Some(oldest) = cache.order.pop_front() {
                cache.components.remove(&oldest);
            }
        }
        Ok(loaded)
    }

    fn loaded(&self) -> std::sync::MutexGuard<'_, Loaded> {
        // The map stays consistent even if a holder panicked: take it anyway.
        self.inner
            .loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn compile(&self, digest: &ComponentDigest, bytes: &[u8]) -> Result<(Component, bool)> {
        let engine = &self.inner.engine;
        if let Some(cache) = &self.inner.disk_cache
            && let Some(serialized) = cache.read(digest)
            && let Some(component) = deserialize(engine, &serialized)
        {
            return Ok((component, true));
        }
        if is_core_module(bytes) {
            return Err(Error::InvalidComponent(
                "this is a core wasm module, not a component".into(),
            ));
        }
        let component = Component::from_binary(engine, bytes)
            .map_err(|error| Error::InvalidComponent(format!("{error:#}")))?;
        if let Some(cache) = &self.inner.disk_cache {
            let serialized = component
                .serialize()
                .map_err(|error| Error::Internal(format!("serialize: {error:#}")))?;
            // A failed write only costs a recompilation next time.
            let _ = cache.write(digest, &serialized);
        }
        Ok((component, false))
    }

    fn check_imports(&self, component: &Component) -> Result<Vec<Capability>> {
        let engine = &self.inner.engine;
        let mut capabilities = Vec::new();
        for (name, item) in component.component_type().imports(engine) {
            if !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
                return Err(Error::UnsupportedImport {
                    import: name.to_string(),
                });
            }
            let unversioned = name.split('@').next().unwrap_or(name);
            if UNGATED.contains(&unversioned) {
                continue;
            }
            if let Some(capability) = Capability::ALL
                .into_iter()
                .find(|capability| capability.import() == unversioned)
            {
                if !capabilities.contains(&capability) {
                    capabilities.push(capability);
                }
                continue;
            }
            // WASI is linked without files, environment or sockets, and `wasi:http/types` sends
            // nothing by itself; an interface the linker lacks fails in `instantiate_pre` with
            // its name. Anything else (an old `trellis:integration/http` among it) is refused.
            if !name.starts_with("wasi:") {
                return Err(Error::UnsupportedImport {
                    import: name.to_string(),
                });
            }
        }
        Ok(capabilities)
    }

    /// Runs one event. A run that starts always comes back as a [`RunOutcome`], whatever the
    /// guest did; `Err` means it did not start (bad request, missing grant, no free slot).
    ///
    /// The outcome's `writes` and `kv_writes` are non-empty only when the status is `ok`. The
    /// caller must apply both in one store transaction (see [`crate::WriteOp`]).
    pub async fn run(
        &self,
        component: &LoadedComponent,
        request: RunRequest,
    ) -> Result<RunOutcome> {
        check_request(&request, &self.inner.config)?;
        component.check_grants(&request.grants)?;
        let RunRequest {
            context,
            event,
            grants,
            limits,
            services,
        } = request;

        let started = Instant::now();
        let deadline = started + limits.wall_time_max();
        let meter = MemoryMeter::new(
            limits.memory_bytes_max,
            self.inner.config.core_instances_per_run_max as usize,
        );
        let egress_log = SharedEgressLog::default();
        let egress = EgressHooks {
            policy: grants.http.clone(),
            sender: self.inner.http.clone(),
            caps: EgressCaps {
                requests_max: limits.outbound_requests_max,
                request_bytes_max: limits.http_request_bytes_max,
                response_bytes_max: limits.http_response_bytes_max,
                request_ms_max: limits.http_request_ms_max,
            },
            deadline,
            run_id: context.run_id,
            log: egress_log.clone(),
        };
        let state = RunState::new(
            HostState {
                context: context.clone(),
                grants,
                limits: limits.clone(),
                services,
                started,
                deadline,
                host_calls: 0,
                output_bytes: 0,
                limit_hit: None,
                logs: Vec::new(),
                writes: Vec::new(),
                staged_write_bytes: 0,
                kv: KvOverlay::default(),
                denials: Vec::new(),
                secrets_read: Vec::new(),
                stdout: wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(STDIO_BYTES_MAX),
                stderr: wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(STDIO_BYTES_MAX),
            },
            egress,
            meter,
        );
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|state| &mut state.meter);
        store
            .set_fuel(limits.fuel_max)
            .map_err(|error| Error::Internal(format!("{error:#}")))?;
        // On every tick: end the run past its deadline, otherwise let other runs have the thread.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut store| {
            let state = store.data_mut();
            if Instant::now() >= state.host.deadline {
                state.host.limit_hit = Some(RunStatus::Timeout);
                return Err(wasmtime::Error::msg("the run's wall-clock time is up"));
            }
            Ok(UpdateDeadline::Yield(1))
        });

        let wit_event = to_wit_event(&event);
        let mut cpu = Duration::ZERO;
        let called = {
            let call = async {
                let instance = component.pre.instantiate_async(&mut store).await?;
                instance.call_handle(&mut store, &wit_event).await
            };
            // Awaiting a host call is not covered by the epoch callback: the timeout is.
            let timed = std::pin::pin!(tokio::time::timeout(limits.wall_time_max(), call));
            CpuMetered {
                inner: timed,
                cpu: &mut cpu,
            }
            .await
        };
        let duration = started.elapsed();

        let fuel_left = store.get_fuel().unwrap_or(0);
        let state = store.data_mut();
        let (status, output) = match called {
            Err(_elapsed) => (RunStatus::Timeout, None),
            Ok(Err(error)) => {
                if error.is::<wasmtime::PoolConcurrencyLimitError>() {
                    return Err(Error::Busy(format!("{error:#}")));
                }
                (classify_trap(&state.host, state.meter.denied, &error), None)
            }
            Ok(Ok(Err(message))) => {
                let status = if state.meter.denied {
                    RunStatus::MemoryLimit
                } else {
                    RunStatus::Error(message)
                };
                (status, None)
            }
            Ok(Ok(Ok(output))) => finish_output(&mut state.host, output),
        };

        let logs = state.host.finish_logs();
        let memory_byte_seconds = state.meter.byte_seconds();
        let memory_peak_bytes = state.meter.peak_bytes;
        let host = &mut state.host;
        let fuel_used = limits.fuel_max.saturating_sub(fuel_left);
        let ok = status.is_ok();
        let writes_staged = host.writes.len() as u64;
        let writes = if ok {
            std::mem::take(&mut host.writes)
        } else {
            Vec::new()
        };
        let egress = egress_log.take();
        let mut denials = std::mem::take(&mut host.denials);
        denials.extend(egress.denials);
        let kv_writes = if ok {
            std::mem::take(&mut host.kv).into_writes()
        } else {
            Vec::new()
        };
        let record = RunRecord {
            run_id: context.run_id,
            installation_id: context.installation_id.clone(),
            trigger: event.trigger(),
            event,
            status,
            duration_us: duration.as_micros() as u64,
            fuel_used,
            memory_peak_bytes,
            host_calls: host.host_calls,
            outbound_requests: egress.requests,
            logs,
            denials,
            writes_staged,
            usage: Usage {
                cpu_us: cpu.as_micros() as u64,
                fuel: fuel_used,
                memory_byte_seconds,
                host_calls: host.host_calls,
            },
        };
        Ok(RunOutcome {
            record,
            output: if ok { output } else { None },
            writes,
            kv_writes,
        })
    }
}

/// Checks the run's own limits and input before anything is instantiated.
fn check_request(request: &RunRequest, config: &RuntimeConfig) -> Result<()> {
    let limits: &RunLimits = &request.limits;
    if limits.memory_bytes_max > config.memory_bytes_max_ceiling {
        return Err(Error::InvalidRequest(format!(
            "limits.memory_bytes_max is {}; this runtime allows at most {}",
            limits.memory_bytes_max, config.memory_bytes_max_ceiling
        )));
    }
    for (name, value) in [
        ("fuel_max", limits.fuel_max),
        ("memory_bytes_max", limits.memory_bytes_max),
        ("wall_ms_max", limits.wall_ms_max),
    ] {
        if value == 0 {
            return Err(Error::InvalidRequest(format!(
                "limits.{name} must be above 0"
            )));
        }
    }
    let bytes = request.event.payload_bytes();
    if bytes > limits.input_bytes_max {
        return Err(Error::InvalidRequest(format!(
            "the event is {bytes} bytes; the limit is {}",
            limits.input_bytes_max
        )));
    }
    let json = match &request.event {
        Event::Invoke { input, .. } => Some(("event.input", input)),
        Event::Change { data, .. } => Some(("event.data", data)),
        _ => None,
    };
    if let Some((field, text)) = json
        && let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(text)
    {
        return Err(Error::InvalidRequest(format!(
            "{field} is not JSON: {error}"
        )));
    }
    Ok(())
}

/// Turns a trap (or host-raised error) into the run's status.
fn classify_trap(host: &HostState, memory_denied: bool, error: &wasmtime::Error) -> RunStatus {
    if let Some(status) = &host.limit_hit {
        return status.clone();
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => RunStatus::FuelExhausted,
        Some(Trap::Interrupt) => RunStatus::Timeout,
        _ if memory_denied => RunStatus::MemoryLimit,
        Some(Trap::StackOverflow) => RunStatus::Trap("stack overflow".into()),
        _ => RunStatus::Trap(format!("{error:#}")),
    }
}

/// Checks a returned output: JSON must parse, and it counts against the output limit.
fn finish_output(
    host: &mut HostState,
    output: host::trellis::integration::events::Output,
) -> (RunStatus, Option<Output>) {
    use host::trellis::integration::events::Output as WitOutput;
    let output = match output {
        WitOutput::None => Output::None,
        WitOutput::Json(text) => Output::Json(text),
        WitOutput::Http(response) => Output::Http(WebhookResponse {
            status: response.status,
            headers: response.headers,
            body: response.body,
        }),
    };
    if host.charge_output(output.bytes()).is_err() {
        return (RunStatus::OutputLimit, None);
    }
    if let Output::Json(text) = &output
        && let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(text)
    {
        return (
            RunStatus::Error(format!("the output is not JSON: {error}")),
            None,
        );
    }
    if let Output::Http(response) = &output
        && !(100..=599).contains(&response.status)
    {
        return (
            RunStatus::Error(format!("{} is not an HTTP status", response.status)),
            None,
        );
    }
    (RunStatus::Ok, Some(output))
}

fn to_wit_event(event: &Event) -> host::trellis::integration::events::Event {
    use host::trellis::integration::events as wit;
    match event {
        Event::Invoke { source, input } => wit::Event::Invoke(wit::InvokeEvent {
            source: match source {
                InvokeSource::Api => wit::InvokeSource::Api,
                InvokeSource::Button => wit::InvokeSource::Button,
                InvokeSource::AgentTool => wit::InvokeSource::AgentTool,
            },
            input: input.clone(),
        }),
        Event::Schedule { name, fire_at_ms } => wit::Event::Schedule(wit::ScheduleEvent {
            name: name.clone(),
            fire_at_ms: *fire_at_ms,
        }),
        Event::Change {
            event_id,
            event_type,
            object_id,
            at_ms,
            data,
        } => wit::Event::Change(wit::ChangeEvent {
            event_id: event_id.clone(),
            event_type: event_type.clone(),
            object_id: object_id.clone(),
            at_ms: *at_ms,
            data: data.clone(),
        }),
        Event::Webhook(request) => wit::Event::Webhook(wit::WebhookRequest {
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.query.clone(),
            headers: request.headers.clone(),
            body: request.body.clone(),
        }),
    }
}

/// Measures the time a future spends being polled: the run's CPU time on the executor, without
/// the time it waits for I/O.
struct CpuMetered<'a, F> {
    inner: F,
    cpu: &'a mut Duration,
}

impl<F: Future + Unpin> Future for CpuMetered<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<F::Output> {
        let started = Instant::now();
        let polled = Pin::new(&mut self.inner).poll(context);
        *self.cpu += started.elapsed();
        polled
    }
}

/// One thread per engine advances the epoch; it stops when the engine is dropped.
fn start_epoch_ticker(engine: &Engine, tick: Duration) -> Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("trellis-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(tick);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .map(drop)
        .map_err(|error| Error::Internal(format!("epoch ticker: {error}")))
}

/// Names compiled artifacts so that a different wasmtime or configuration never loads them.
fn engine_fingerprint(engine: &Engine) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// A core module starts with the same magic as a component but a different layer field.
fn is_core_module(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[0..4] == *b"\0asm" && bytes[4..8] == [1, 0, 0, 0]
}

/// Loads a serialized component from our own cache.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, serialized: &[u8]) -> Option<Component> {
    // SAFETY: wasmtime trusts serialized artifacts to be its own output. These bytes were
    // written by `Runtime::compile` into the operator's cache directory, named by the engine's
    // compatibility fingerprint, and the SHA-256 seal checked in `DiskCache::read` shows they are
    // the bytes that were written. Wasmtime still checks the version and configuration header.
    unsafe { Component::deserialize(engine, serialized) }.ok()
}

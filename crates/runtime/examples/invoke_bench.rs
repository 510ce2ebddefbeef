//! Invocation overhead: Trellis's host (limits, grants check, staging, run record) against a bare
//! wasmtime host (new store, pooled instantiate, call, drop), on the trivial `echo` integration.
//!
//! ```text
//! TRELLIS_GUESTS_TARGET_DIR=/root/.cache/trellis-guests-target \
//!   cargo run --release --example invoke_bench -- [iterations]
//! ```
//!
//! Prints a table; the last line is `RESULT key=value ...`.

#[path = "../tests/it/guests.rs"]
mod guests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use runtime::{Event, Grants, InvokeSource, RunContext, RunLimits, RunRequest, RunStatus, Runtime};
use runtime::{RuntimeConfig, Services};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Only the export side is used: the bare host links nothing of Trellis's.
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "trellis:integration/integration",
        imports: { default: async | trappable },
        exports: { default: async },
        // As the runtime's host: these are wasmtime's own, linked below.
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
    });
}

use bindings::IntegrationPre;
use bindings::trellis::integration::events;

struct BareState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: RefuseAll,
    table: ResourceTable,
}

/// The echo guests send nothing; a request would be refused.
struct RefuseAll;

impl wasmtime_wasi_http::WasiHttpHooks for RefuseAll {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _response_error: Box<
            dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send,
        >,
    ) -> Box<
        dyn std::future::Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<
                            dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>>
                                + Send,
                        >,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

/// The world imports `wasi:http/outgoing-handler`, whose types hold `wasi:io` resources: it
/// must be linked for real (not as traps) for the component to link at all.
impl WasiHttpView for BareState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl WasiView for BareState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The reference: the least a host must do per invocation.
struct BareHost {
    engine: Engine,
    pre: IntegrationPre<BareState>,
}

impl BareHost {
    /// With `tuned`, the pool gives memory back as Trellis's does (`runtime::tune_pool`), so
    /// that the ratio to Trellis measures Trellis's own work per call; without, wasmtime's
    /// defaults.
    fn new(bytes: &[u8], tuned: bool) -> wasmtime::Result<BareHost> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(128)
            .total_memories(256)
            .total_tables(512)
            .total_stacks(128)
            .max_memory_size(512 << 20);
        if tuned {
            runtime::tune_pool(&mut pool);
        }
        let mut config = Config::new();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let component = wasmtime::component::Component::from_binary(&engine, bytes)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        // The echo guests import nothing of Trellis's. (Defining unknown imports as traps would
        // also shadow the `wasi:io` resources `wasi:http` uses, and the component would not link.)
        let pre = IntegrationPre::new(linker.instantiate_pre(&component)?)?;
        Ok(BareHost { engine, pre })
    }

    async fn invoke(&self, event: &events::Event) -> wasmtime::Result<()> {
        let state = BareState {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            hooks: RefuseAll,
            table: ResourceTable::new(),
        };
        let mut store = Store::new(&self.engine, state);
        let instance = self.pre.instantiate_async(&mut store).await?;
        let output = instance.call_handle(&mut store, event).await?;
        assert!(output.is_ok());
        Ok(())
    }
}

fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index].as_secs_f64() * 1e6
}

struct Stats {
    p50_us: f64,
    p99_us: f64,
    mean_us: f64,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let total: Duration = samples.iter().sum();
    Stats {
        p50_us: percentile(&samples, 0.50),
        p99_us: percentile(&samples, 0.99),
        mean_us: total.as_secs_f64() * 1e6 / samples.len() as f64,
    }
}

fn request(input: &str) -> RunRequest {
    RunRequest {
        context: RunContext::new("bench", Arc::new(())),
        event: Event::Invoke {
            source: InvokeSource::Api,
            input: input.to_string(),
        },
        grants: Grants::default(),
        limits: RunLimits::default(),
        services: Services::default(),
    }
}

async fn measure<F, Fut>(iterations: usize, mut call: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..iterations / 10 {
        call().await;
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let started = Instant::now();
        call().await;
        samples.push(started.elapsed());
    }
    samples
}

/// What one component measured: the bare host, Trellis's host, and Trellis's throughput.
struct Measured {
    bytes: usize,
    iterations: usize,
    bare: Stats,
    /// The bare host with wasmtime's default pool settings.
    bare_default: Stats,
    ours: Stats,
    per_second: f64,
}

async fn bench(bytes: &[u8], iterations: usize, workers: usize) -> Measured {
    let input = r#"{"hello":"world"}"#;
    let bare = Arc::new(BareHost::new(bytes, true).expect("bare host"));
    let bare_default = Arc::new(BareHost::new(bytes, false).expect("bare host, default pool"));
    let event = events::Event::Invoke(events::InvokeEvent {
        source: events::InvokeSource::Api,
        input: input.to_string(),
    });
    let bare_samples = measure(iterations, || {
        let bare = bare.clone();
        let event = event.clone();
        async move { bare.invoke(&event).await.expect("bare call") }
    })
    .await;
    let bare_default_samples = measure(iterations, || {
        let bare = bare_default.clone();
        let event = event.clone();
        async move { bare.invoke(&event).await.expect("bare call") }
    })
    .await;

    let trellis = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let component = trellis.load(bytes).expect("load the component");
    let trellis_samples = measure(iterations, || {
        let trellis = trellis.clone();
        let component = component.clone();
        async move {
            let outcome = trellis.run(&component, request(input)).await.expect("run");
            assert_eq!(outcome.record.status, RunStatus::Ok);
        }
    })
    .await;

    // Throughput: one loop per worker thread, all on the same runtime.
    let started = Instant::now();
    let loops: Vec<_> = (0..workers)
        .map(|_| {
            let trellis = trellis.clone();
            let component = component.clone();
            tokio::spawn(async move {
                for _ in 0..iterations / workers {
                    let outcome = trellis.run(&component, request(input)).await.expect("run");
                    assert_eq!(outcome.record.status, RunStatus::Ok);
                }
            })
        })
        .collect();
    for handle in loops {
        handle.await.expect("loop");
    }
    let per_second = (iterations / workers * workers) as f64 / started.elapsed().as_secs_f64();
    Measured {
        bytes: bytes.len(),
        iterations,
        bare: stats(bare_samples),
        bare_default: stats(bare_default_samples),
        ours: stats(trellis_samples),
        per_second,
    }
}

/// `invoke_bench [ITERATIONS]`; with `JS_COMPONENT=path/to/echo-js.wasm` (built by
/// `bench/runtime/run.sh`) the JavaScript echo is measured too, with a tenth of the iterations.
fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .map(|text| text.parse().expect("iterations is a number"))
        .unwrap_or(20_000);
    let rust = guests::build_guest("integrations/echo", "echo");
    let js = std::env::var_os("JS_COMPONENT")
        .map(|path| std::fs::read(&path).expect("read JS_COMPONENT"));
    let workers = 2;
    let executor = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime");

    executor.block_on(async {
        let mut rows = vec![("rust", bench(&rust, iterations, workers).await)];
        if let Some(js) = &js {
            rows.push(("js", bench(js, (iterations / 10).max(100), workers).await));
        }
        println!(
            "{:<6} {:>10} {:>11} {:>10} {:>10} {:>10} {:>16} {:>13} {:>13} {:>7} {:>14}",
            "guest", "bytes", "invocations", "bare p50", "bare p99", "bare mean", "bare p50 (dflt)",
            "trellis p50", "trellis p99", "ratio", "trellis inv/s"
        );
        for (name, m) in &rows {
            println!(
                "{name:<6} {:>10} {:>11} {:>8.1}µs {:>8.1}µs {:>8.1}µs {:>14.1}µs {:>11.1}µs {:>11.1}µs {:>7.2} {:>14.0}",
                m.bytes,
                m.iterations,
                m.bare.p50_us,
                m.bare.p99_us,
                m.bare.mean_us,
                m.bare_default.p50_us,
                m.ours.p50_us,
                m.ours.p99_us,
                m.ours.p50_us / m.bare.p50_us,
                m.per_second
            );
        }
        println!(
            "(bare: Trellis's pool settings, runtime::tune_pool; dflt: wasmtime's default pool; \
             ratio: trellis / bare p50; trellis inv/s: {workers} worker threads on one runtime)"
        );
        let mut result = String::from("RESULT");
        for (name, m) in &rows {
            result.push_str(&format!(
                " {name}_trellis_p50_us={:.1} {name}_trellis_p99_us={:.1} {name}_bare_p50_us={:.1} {name}_bare_p99_us={:.1} {name}_bare_default_pool_p50_us={:.1} {name}_ratio_p50={:.2} {name}_invocations_per_s={:.0}",
                m.ours.p50_us,
                m.ours.p99_us,
                m.bare.p50_us,
                m.bare.p99_us,
                m.bare_default.p50_us,
                m.ours.p50_us / m.bare.p50_us,
                m.per_second
            ));
        }
        println!("{result}");
    });
}

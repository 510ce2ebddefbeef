//! Limits, named with their unit last. Every run has all of them; the defaults are meant for a
//! production installation and each can be set per installation.

use std::time::Duration;

/// What one run may use. Hitting a limit ends the run with the matching [`crate::RunStatus`],
/// except where noted: those make the host call fail with `limit-exceeded` instead, which the
/// guest may handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLimits {
    /// Wasm fuel (roughly, instructions). Ends the run with `fuel_exhausted`.
    pub fuel_max: u64,
    /// Total linear memory of the component's instances, in bytes. A `memory.grow` past it fails;
    /// if the run then does not return `ok` it ends with `memory_limit`.
    pub memory_bytes_max: u64,
    /// Wall-clock time from instantiation to return, host calls included. Ends with `timeout`.
    pub wall_ms_max: u64,
    /// Calls to Trellis interfaces (workspace, kv, log, ...; not WASI, so not `wasi:http`). Ends
    /// with `host_call_limit`.
    pub host_calls_max: u64,
    /// Bytes of the returned output plus log entries. Ends with `output_limit`.
    pub output_bytes_max: u64,
    /// Outbound HTTP requests attempted, refused ones included. Past it a request fails with
    /// `connection-limit-reached`.
    pub outbound_requests_max: u32,
    /// Body bytes of one outbound request. Past it the request fails with
    /// `HTTP-request-body-size`, before anything is sent.
    pub http_request_bytes_max: u64,
    /// Body bytes of one outbound response. Past it the response (or its body's stream) fails
    /// with `HTTP-response-body-size`.
    pub http_response_bytes_max: u64,
    /// Time for one outbound request, in milliseconds (also bounded by what is left of
    /// `wall_ms_max`).
    pub http_request_ms_max: u64,
    /// The installation's key-value store: keys plus values, in bytes. Past it `kv.set` fails
    /// with `limit-exceeded`.
    pub kv_bytes_max: u64,
    /// Bytes of all workspace writes staged in one run. Past it the write fails with
    /// `limit-exceeded`.
    pub staged_write_bytes_max: u64,
    /// Bytes of the event given to the run. A larger one is refused before the run starts.
    pub input_bytes_max: u64,
}

impl Default for RunLimits {
    fn default() -> Self {
        RunLimits {
            fuel_max: 2_000_000_000,
            memory_bytes_max: 128 << 20,
            wall_ms_max: 10_000,
            host_calls_max: 1_000,
            output_bytes_max: 1 << 20,
            outbound_requests_max: 20,
            http_request_bytes_max: 1 << 20,
            http_response_bytes_max: 4 << 20,
            http_request_ms_max: 5_000,
            kv_bytes_max: 1 << 20,
            staged_write_bytes_max: 4 << 20,
            input_bytes_max: 1 << 20,
        }
    }
}

impl RunLimits {
    pub(crate) fn wall_time_max(&self) -> Duration {
        Duration::from_millis(self.wall_ms_max)
    }
}

/// How the engine is set up, once per process.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are kept between processes; `None` keeps them in memory only.
    pub cache_dir: Option<std::path::PathBuf>,
    /// Runs that can be instantiated at once (pooling allocator slots).
    pub concurrent_runs_max: u32,
    /// The largest `memory_bytes_max` any run may be given, in bytes: the size of a pool slot.
    pub memory_bytes_max_ceiling: u64,
    /// Core instances one component may create. Python components need more than 32.
    pub core_instances_per_run_max: u32,
    /// How often the epoch ticker advances, in milliseconds: the granularity of `timeout`, and how
    /// often a busy guest yields its thread to other runs.
    pub epoch_tick_ms: u64,
    /// Wasm stack of one run, in bytes. Deeper recursion traps with a stack overflow.
    pub wasm_stack_bytes_max: usize,
    /// Compiled components kept in memory.
    pub loaded_components_max: usize,
    /// Lets outbound HTTP reach loopback and private addresses. For development and tests only.
    pub allow_private_networks: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            cache_dir: None,
            concurrent_runs_max: 128,
            memory_bytes_max_ceiling: 512 << 20,
            core_instances_per_run_max: 64,
            epoch_tick_ms: 5,
            wasm_stack_bytes_max: 512 << 10,
            loaded_components_max: 256,
            allow_private_networks: false,
        }
    }
}

//! Linear memory accounting for one run: the limit across all of the component's memories, the
//! peak, and memory held over time for billing.

use std::time::Instant;

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// The store's resource limiter. Counts and instance limits are delegated to wasmtime's
/// [`StoreLimits`]; memory is limited here on the total of all memories, which `StoreLimits`
/// only limits one memory at a time.
pub(crate) struct MemoryMeter {
    delegate: StoreLimits,
    memory_bytes_max: u64,
    held_bytes: u64,
    pub(crate) peak_bytes: u64,
    /// Set when a grow was refused for the limit.
    pub(crate) denied: bool,
    last_change: Instant,
    byte_micros: u128,
}

impl MemoryMeter {
    pub(crate) fn new(memory_bytes_max: u64, core_instances_max: usize) -> MemoryMeter {
        MemoryMeter {
            delegate: StoreLimitsBuilder::new()
                .instances(core_instances_max)
                .memories(core_instances_max)
                .tables(core_instances_max * 4)
                .table_elements(100_000)
                .build(),
            memory_bytes_max,
            held_bytes: 0,
            peak_bytes: 0,
            denied: false,
            last_change: Instant::now(),
            byte_micros: 0,
        }
    }

    fn settle(&mut self) {
        let now = Instant::now();
        let micros = now.duration_since(self.last_change).as_micros();
        self.byte_micros += micros * u128::from(self.held_bytes);
        self.last_change = now;
    }

    /// Memory held over the run so far, in byte-seconds.
    pub(crate) fn byte_seconds(&mut self) -> u64 {
        self.settle();
        u64::try_from(self.byte_micros / 1_000_000).unwrap_or(u64::MAX)
    }
}

impl ResourceLimiter for MemoryMeter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = (desired - current) as u64;
        if self.held_bytes + growth > self.memory_bytes_max {
            self.denied = true;
            return Ok(false);
        }
        self.settle();
        self.held_bytes += growth;
        self.peak_bytes = self.peak_bytes.max(self.held_bytes);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.delegate.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.delegate.instances()
    }

    fn tables(&self) -> usize {
        self.delegate.tables()
    }

    fn memories(&self) -> usize {
        self.delegate.memories()
    }
}

//! Hostile guests written by hand in the component text format, no compiler involved: they
//! export the real `handle` signature (so they load like any integration) and misbehave inside.

use runtime::{RunStatus, Services};
use serde_json::json;

use crate::support::{invoke, shared_runtime};

/// A component exporting `handle` whose core function runs `body` (WAT instructions) and then
/// returns. The core signature is the canonical ABI's flattening of `handle(event)`.
fn component(body: &str) -> Vec<u8> {
    component_with("", body)
}

/// [`component`] with `fields` (module fields such as data segments) added to its core module.
fn component_with(fields: &str, body: &str) -> Vec<u8> {
    let text = format!(
        r#"(component
  (type $invoke-source' (enum "api" "button" "agent-tool"))
  (export $invoke-source "invoke-source" (type $invoke-source'))
  (type $invoke-event' (record (field "source" $invoke-source) (field "input" string)))
  (export $invoke-event "invoke-event" (type $invoke-event'))
  (type $schedule-event' (record (field "name" string) (field "fire-at-ms" u64)))
  (export $schedule-event "schedule-event" (type $schedule-event'))
  (type $change-event' (record (field "event-id" string) (field "event-type" string) (field "object-id" string) (field "at-ms" u64) (field "data" string)))
  (export $change-event "change-event" (type $change-event'))
  (type $webhook-request' (record (field "method" string) (field "path" string) (field "query" string) (field "headers" (list (tuple string string))) (field "body" (list u8))))
  (export $webhook-request "webhook-request" (type $webhook-request'))
  (type $event' (variant (case "invoke" $invoke-event) (case "schedule" $schedule-event) (case "change" $change-event) (case "webhook" $webhook-request)))
  (export $event "event" (type $event'))
  (type $webhook-response' (record (field "status" u16) (field "headers" (list (tuple string string))) (field "body" (list u8))))
  (export $webhook-response "webhook-response" (type $webhook-response'))
  (type $output' (variant (case "none") (case "json" string) (case "http" $webhook-response)))
  (export $output "output" (type $output'))
  (core module $m
    (memory (export "memory") 1)
{fields}
    (global $bump (mut i32) (i32.const 1024))
    (func $recurse (param i64) (result i64)
      (i64.add (call $recurse (i64.add (local.get 0) (i64.const 1))) (i64.const 1)))
    (func (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $ptr i32)
      (local.set $ptr (i32.and (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
                               (i32.sub (i32.const 0) (local.get 2))))
      (global.set $bump (i32.add (local.get $ptr) (local.get 3)))
      (local.get $ptr))
    (func (export "handle") (param i32 i32 i32 i64 i32 i32 i32 i64 i32 i32 i32) (result i32)
{body}
      (i32.const 0))
  )
  (core instance $i (instantiate $m))
  (func $handle (param "event" $event) (result (result $output (error string)))
    (canon lift (core func $i "handle") (memory (core memory $i "memory")) (realloc (core func $i "realloc"))))
  (export "handle" (func $handle))
)
"#
    );
    wat::parse_str(text).expect("the WAT component parses")
}

async fn run(body: &str, configure: impl FnOnce(&mut runtime::RunRequest)) -> runtime::RunOutcome {
    run_bytes(&component(body), configure).await
}

async fn run_bytes(
    bytes: &[u8],
    configure: impl FnOnce(&mut runtime::RunRequest),
) -> runtime::RunOutcome {
    let component = shared_runtime().load(bytes).expect("load");
    let mut request = invoke(json!({}), Services::default());
    request.grants = runtime::Grants::default();
    configure(&mut request);
    shared_runtime().run(&component, request).await.unwrap()
}

#[tokio::test]
async fn a_wat_infinite_loop_runs_out_of_fuel() {
    let outcome = run("      (loop $forever (br $forever))", |request| {
        request.limits.fuel_max = 10_000_000;
    })
    .await;
    assert_eq!(outcome.record.status, RunStatus::FuelExhausted);
    assert!(outcome.writes.is_empty());
}

#[tokio::test]
async fn a_wat_infinite_loop_with_fuel_to_spare_times_out() {
    let outcome = run("      (loop $forever (br $forever))", |request| {
        request.limits.fuel_max = u64::MAX / 2;
        request.limits.wall_ms_max = 100;
    })
    .await;
    assert_eq!(outcome.record.status, RunStatus::Timeout);
}

#[tokio::test]
async fn wat_unbounded_recursion_is_a_stack_overflow_trap() {
    let outcome = run("      (call $recurse (i64.const 0)) (drop)", |_| {}).await;
    assert_eq!(
        outcome.record.status,
        RunStatus::Trap("stack overflow".into())
    );
}

#[tokio::test]
async fn a_wat_memory_bomb_hits_the_memory_limit() {
    // Grow a page at a time until refused, then trap as an allocator would.
    let body =
        "      (loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
      (unreachable)";
    let outcome = run(body, |request| request.limits.memory_bytes_max = 8 << 20).await;
    assert_eq!(outcome.record.status, RunStatus::MemoryLimit);
    assert_eq!(outcome.record.memory_peak_bytes, 8 << 20);
}

/// Pooled memory is reset in place between runs (kept resident up to a bound, decommitted past
/// it): each run of the same component must still find its memory exactly as instantiated.
/// The guest traps when it finds anything a run before it left: a grown memory, its data
/// segment overwritten, a marker in its first page, or one past 3 MiB (beyond the part kept
/// resident).
#[tokio::test]
async fn every_run_finds_its_memory_as_instantiated_whatever_the_run_before_wrote() {
    let body = "      (if (i32.ne (memory.size) (i32.const 1)) (then unreachable))
      (if (i32.ne (i32.load8_u (i32.const 2000)) (i32.const 65)) (then unreachable))
      (if (i32.ne (i32.load (i32.const 60000)) (i32.const 0)) (then unreachable))
      (i32.store8 (i32.const 2000) (i32.const 66))
      (i32.store (i32.const 60000) (i32.const 7))
      (if (i32.eq (memory.grow (i32.const 63)) (i32.const -1)) (then unreachable))
      (if (i32.ne (i32.load (i32.const 3145728)) (i32.const 0)) (then unreachable))
      (i32.store (i32.const 3145728) (i32.const 7))";
    let bytes = component_with(r#"    (data (i32.const 2000) "A")"#, body);
    for attempt in 0..20 {
        let outcome = run_bytes(&bytes, |request| request.limits.memory_bytes_max = 8 << 20).await;
        assert_eq!(outcome.record.status, RunStatus::Ok, "run {attempt}");
    }
}

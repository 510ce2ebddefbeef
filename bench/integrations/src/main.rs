//! Event-to-run lag: `INSTALLATIONS` installations of a trivial component subscribed to
//! `page.properties_updated`, `RATE` page edits per second for `SECONDS` seconds, through the
//! real platform worker on a file-backed SQLite store (or PostgreSQL). Lag is measured from the
//! change's commit time in the change log to the run's start (`started_time`), both stored by the
//! server.
//!
//! `lag COMPONENT.wasm` with env `INSTALLATIONS` (200), `RATE` (50), `SECONDS` (10), and
//! `DATABASE_URL` (a PostgreSQL server to use instead of SQLite). Prints a table, the lag by
//! 5-second window of when the change was made (with the SQLite WAL's size, to see whether the
//! lag holds or grows with the run table), each second with a run that started over 100 ms after
//! its change beside what the SQLite checkpointer did around it, the share of CPU time the
//! hypervisor stole during the run (`steal_pct`: runs under heavy steal don't compare with runs
//! without), and a last line `RESULT key=value ...`.

use std::time::{Duration, Instant};

use document::{Id, PropertyInput, PropertyValue, RichText};
use integrations::{InstallRequest, Platform, PlatformLimits};
use workspace::{Grantee, Level, NewPage, NewUser, PageUpdate, ParentRef, Role, Workspace};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn title(text: &str) -> Vec<(String, PropertyInput)> {
    vec![(
        "title".into(),
        PropertyInput::Value(PropertyValue::Title(vec![RichText::plain(text)])),
    )]
}

fn percentile(sorted: &[i64], fraction: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * fraction).round() as usize]
}

#[tokio::main]
async fn main() {
    let component_path = std::env::args()
        .nth(1)
        .expect("usage: lag COMPONENT.wasm (the echo integration, built for wasm32-wasip2)");
    let component = std::fs::read(&component_path).expect("read the component");
    let installations = env("INSTALLATIONS", 200) as usize;
    let rate = env("RATE", 50);
    let seconds = env("SECONDS", 10);

    let dir = std::env::temp_dir().join(format!("trellis-lag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A file-backed SQLite store by default; a fresh database on the PostgreSQL server at
    // DATABASE_URL when it is set.
    let (store, dialect) = match std::env::var("DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            let url = storage_sql::create_postgres_database(&base)
                .await
                .expect("create a PostgreSQL database");
            (storage_sql::Store::open(&url).await.unwrap(), "postgres")
        }
        _ => (
            storage_sql::Store::open_data_dir(&dir).await.unwrap(),
            "sqlite",
        ),
    };
    let workspace = Workspace::new(store).await.unwrap();
    let owner = workspace
        .create_user(NewUser {
            email: "owner@example.com".into(),
            name: "Owner".into(),
            role: Role::Owner,
            password: None,
        })
        .await
        .unwrap();
    let owner = workspace.actor_for_user(owner.id).await.unwrap();
    let page = workspace
        .create_page(
            &owner,
            NewPage {
                parent: Some(ParentRef::Workspace),
                properties: title("Edited"),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .page
        .id;
    let runtime = runtime::Runtime::new(runtime::RuntimeConfig {
        cache_dir: Some(dir.join("components")),
        ..Default::default()
    })
    .unwrap();
    let platform = Platform::new(workspace.clone(), runtime, PlatformLimits::default());
    let setup = Instant::now();
    for index in 0..installations {
        let manifest = format!(
            "[integration]\nname = \"lag-{index}\"\nversion = \"1.0.0\"\nlanguage = \"rust\"\n\
             [scopes]\nworkspace = [\"read_content\"]\n[triggers]\nchanges = [\"page.properties_updated\"]\n"
        );
        let package = platform
            .register(&owner, &manifest, &component)
            .await
            .unwrap();
        let installation = platform
            .install(
                &owner,
                InstallRequest {
                    package_id: package.record.id,
                    runs_per_hour_max: Some(1_000_000),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        workspace
            .share(
                &owner,
                page,
                Grantee::Integration(installation.record.integration_id),
                Some(Level::CanView),
            )
            .await
            .unwrap();
    }
    eprintln!(
        "set up {installations} installations in {:.1} s",
        setup.elapsed().as_secs_f64()
    );
    // The checkpointer's status once a second (file-backed SQLite only), stamped in ms with the
    // clock the server stamps changes with: the WAL's size (a WAL the checkpointer can't keep
    // small slows every read) and the time its filing and passes took, to set beside the
    // seconds whose runs started late.
    let samples = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampler = {
        let (store, samples) = (workspace.store().clone(), samples.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let Some(status) = store.checkpoint_status() else {
                    return;
                };
                samples
                    .lock()
                    .unwrap()
                    .push((workspace::clock::now_ms(), status));
            }
        })
    };
    let worker = {
        let platform = platform.clone();
        tokio::spawn(async move {
            platform
                .run_worker(Duration::from_millis(20), std::future::pending::<()>())
                .await
        })
    };
    // The edits: one page title change every 1/RATE s, each started at its time whether or not
    // the one before has returned (an open loop: a slow writer can't lower the load it gets).
    let cpu_at_start = cpu_times();
    let process_cpu_at_start = process_cpu_ticks();
    let written_at_start = bytes_written();
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let edits = rate * seconds;
    let mut tasks = Vec::with_capacity(edits as usize);
    for edit in 0..edits {
        let due = started + interval * edit as u32;
        tokio::time::sleep_until(due.into()).await;
        let (workspace, owner) = (workspace.clone(), owner.clone());
        tasks.push(tokio::spawn(async move {
            workspace
                .update_page(
                    &owner,
                    page,
                    PageUpdate {
                        properties: title(&format!("Edit {edit}")),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            due.elapsed().as_millis() as i64
        }));
    }
    let mut edit_ms = Vec::with_capacity(tasks.len());
    for task in tasks {
        edit_ms.push(task.await.unwrap());
    }
    edit_ms.sort_unstable();
    let (edit_p50, edit_p99) = (percentile(&edit_ms, 0.5), percentile(&edit_ms, 0.99));
    let expected = edits as usize * installations;
    // Let the queue drain, up to a minute, watching counts (cheap) rather than the runs.
    let drain_deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut tx = workspace.store().read().await.unwrap();
        let (total, waiting) = tx.run_totals().await.unwrap();
        tx.commit().await.unwrap();
        if (total as usize >= expected && waiting == 0) || Instant::now() > drain_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained_s = started.elapsed().as_secs_f64();
    let written_at_end = bytes_written();
    let process_cpu_at_end = process_cpu_ticks();
    worker.abort();
    sampler.abort();
    // (when the change was made, its run's lag), in ms.
    let mut timed = Vec::new();
    let mut unstarted = 0;
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for view in platform.installations(&owner).await.unwrap() {
        let mut before: Option<Id> = None;
        loop {
            let runs = platform
                .runs(&owner, view.record.id, before, 100)
                .await
                .unwrap();
            for run in &runs {
                *statuses.entry(run.row.status.to_string()).or_default() += 1;
                let at = run.to_json()["event"]["at_ms"].as_i64().unwrap_or(0);
                match run.row.started_time {
                    Some(start) => timed.push((at, start - at)),
                    None => unstarted += 1,
                }
            }
            if runs.len() < 100 {
                break;
            }
            before = runs.last().map(|run| run.row.id);
        }
    }
    let total_s = drained_s;
    // Time the hypervisor ran something else while this machine wanted its cores: runs under
    // heavy steal are not comparable with runs without.
    let steal_pct = match (cpu_at_start, cpu_times()) {
        (Some((steal0, total0)), Some((steal1, total1))) if total1 > total0 => {
            100.0 * (steal1 - steal0) as f64 / (total1 - total0) as f64
        }
        _ => f64::NAN,
    };
    // What the process wrote (the store's WAL, and its checkpoints into the database file) per
    // run started: the writer's work in pages, which a pass's dirty pages drive.
    let written_mib = match (written_at_start, written_at_end) {
        (Some(start), Some(end)) => (end - start) as f64 / (1024.0 * 1024.0),
        _ => f64::NAN,
    };
    let written_kib_per_run = written_mib * 1024.0 / timed.len().max(1) as f64;
    // The CPU time this process (the worker, and the benchmark's edits) took per run, from the
    // first edit until the queue drained: the headroom left on the machine's cores, which steal
    // distorts less than lag does. PostgreSQL's own processes are not counted.
    let cpu_us_per_run = match (process_cpu_at_start, process_cpu_at_end) {
        (Some(start), Some(end)) => {
            (end - start) as f64 * 1e6 / CLOCK_TICKS_PER_S / timed.len().max(1) as f64
        }
        _ => f64::NAN,
    };
    // Lag by when the change was made, in 5-second windows: does it hold, or grow as the run
    // table does?
    let first_at = timed.iter().map(|(at, _)| *at).min().unwrap_or(0);
    let windows = lags_by_window(&timed, first_at, 5_000);
    let mut lags: Vec<i64> = timed.iter().map(|(_, lag)| *lag).collect();
    lags.sort_unstable();
    let (p50, p99, max) = (
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(0),
    );
    println!(
        "| installations | edits/s | edits | runs expected | runs started | p50 lag ms | p99 lag ms | max lag ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {installations} | {rate} | {edits} | {expected} | {} | {p50} | {p99} | {max} |",
        lags.len()
    );
    println!();
    println!(
        "| changes made in | runs | p50 lag ms | p99 lag ms | WAL frames at the window's end |"
    );
    println!("|---|---|---|---|---|");
    let samples = samples.lock().unwrap().clone();
    for (window, mut lags) in windows {
        lags.sort_unstable();
        let wal = sample_by(&samples, first_at + (window + 1) * 5_000)
            .map(|status| status.wal_frames.to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "| {}-{} s | {} | {} | {} | {wal} |",
            window * 5,
            window * 5 + 5,
            lags.len(),
            percentile(&lags, 0.5),
            percentile(&lags, 0.99)
        );
    }
    print_slow_seconds(&timed, first_at, &samples);
    println!();
    println!(
        "statuses: {statuses:?}; {unstarted} never started; wall time including drain {total_s:.1} s; \
         edit latency p50 {edit_p50} ms, p99 {edit_p99} ms; CPU steal {steal_pct:.1}%; \
         written {written_mib:.0} MiB ({written_kib_per_run:.2} KiB per run); \
         process CPU {cpu_us_per_run:.0} µs per run"
    );
    println!(
        "RESULT store={dialect} installations={installations} rate={rate} edits={edits} runs={} p50_ms={p50} p99_ms={p99} max_ms={max} runs_per_s={:.0} edit_p50_ms={edit_p50} edit_p99_ms={edit_p99} steal_pct={steal_pct:.1} written_mib={written_mib:.0} written_kib_per_run={written_kib_per_run:.2} cpu_us_per_run={cpu_us_per_run:.1}",
        lags.len(),
        lags.len() as f64 / total_s
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The lag goal, in ms: seconds with a run started later than this are listed.
const SLOW_LAG_MS: i64 = 100;

/// Lags grouped by `window_ms`-long windows of when the change was made, counted from
/// `first_at`.
fn lags_by_window(
    timed: &[(i64, i64)],
    first_at: i64,
    window_ms: i64,
) -> std::collections::BTreeMap<i64, Vec<i64>> {
    let mut windows: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for (at, lag) in timed {
        windows
            .entry((at - first_at) / window_ms)
            .or_default()
            .push(*lag);
    }
    windows
}

/// The last checkpointer status sampled by `at` (ms since the epoch), if any.
fn sample_by(
    samples: &[(i64, storage_sql::CheckpointStatus)],
    at: i64,
) -> Option<&storage_sql::CheckpointStatus> {
    samples
        .iter()
        .take_while(|(sampled, _)| *sampled <= at)
        .last()
        .map(|(_, status)| status)
}

/// Each second (by when the change was made) with a run that started more than
/// [`SLOW_LAG_MS`] after its change, beside what the SQLite checkpointer did from the second
/// before to the second after: a run waits behind whatever holds the writer.
fn print_slow_seconds(
    timed: &[(i64, i64)],
    first_at: i64,
    samples: &[(i64, storage_sql::CheckpointStatus)],
) {
    let slow: Vec<_> = lags_by_window(timed, first_at, 1_000)
        .into_iter()
        .filter(|(_, lags)| lags.iter().any(|lag| *lag > SLOW_LAG_MS))
        .collect();
    println!();
    println!(
        "{} seconds had a run start more than {SLOW_LAG_MS} ms after its change",
        slow.len()
    );
    if slow.is_empty() {
        return;
    }
    println!();
    println!(
        "| second | runs | p99 lag ms | max lag ms | filing ms | reader passes ms | writer held ms | WAL frames |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (second, mut lags) in slow {
        lags.sort_unstable();
        // The samples taken from the start of the second before to the end of the one after.
        let before = sample_by(samples, first_at + (second - 1) * 1_000);
        let after = sample_by(samples, first_at + (second + 2) * 1_000);
        let checkpointer = match (before, after) {
            (Some(before), Some(after)) => format!(
                "{} | {} | {} | {}",
                (after.filing_us - before.filing_us) / 1_000,
                (after.pass_us - before.pass_us) / 1_000,
                (after.writer_pass_us - before.writer_pass_us) / 1_000,
                after.wal_frames
            ),
            _ => "- | - | - | -".into(),
        };
        println!(
            "| {second} | {} | {} | {} | {checkpointer} |",
            lags.len(),
            percentile(&lags, 0.99),
            lags.last().copied().unwrap_or(0)
        );
    }
}

/// Bytes this process has passed to `write` and `pwrite` so far (`/proc/self/io`'s `wchar`);
/// `None` where there is no such file.
fn bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("wchar:"))?
        .trim()
        .parse()
        .ok()
}

/// Clock ticks a second in `/proc` (`USER_HZ`, 100 on Linux).
const CLOCK_TICKS_PER_S: f64 = 100.0;

/// The CPU time this process has used so far (`/proc/self/stat`'s utime plus stime), in clock
/// ticks; `None` where there is no such file.
fn process_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces: state is
    // the first of them, utime the 12th and stime the 13th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The machine's stolen and total CPU time so far, in clock ticks (`/proc/stat`'s `cpu` line:
/// user nice system idle iowait irq softirq steal ...); `None` where there is no such file.
fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    Some((*ticks.get(7)?, ticks.iter().sum()))
}

//! Ledger append throughput: entries/s through the group-commit writer.
//!
//! ```text
//! cargo bench --bench ledger [-- FILTER]
//! VANGUARD_BENCH_DIR=/some/disk cargo bench --bench ledger
//! ```
//!
//! Each iteration queues B records through [`Recorder::append`] (from a current-thread tokio
//! runtime, as a pump would) and waits for all B tickets: B is the most the writer can put in
//! one commit, and the bench prints how many commits a round of B really took (the writer
//! starts on the first record it sees, so the first commit of a round may be smaller).
//!
//! Groups: `append/fsync` (B = 1, 8, 64, 256; redb `Durability::Immediate` with two-phase
//! commit: the default), `append/none` (no fsync), and `pipelined/*` (4,096 records queued as
//! fast as the queue takes them: the writer's own batching, up to 1,024 per commit).
//!
//! The ledger lives in a temporary directory on a real disk (the target dir's tmp, or
//! `VANGUARD_BENCH_DIR`); the filesystem type is printed, and a raw `fdatasync` latency for the
//! same directory, so the figures can be read against what the disk allows.
//! `VANGUARD_BENCH_PREFILL=N` first fills each ledger with N entries (appending to a big ledger);
//! `VANGUARD_BENCH_PROBE=0` skips the batching probe (e.g. under a profiler).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vanguard::ledger::{
    Durability, Identity, Ledger, LedgerOptions, Record, Recorder, SessionRecorder,
};
use vanguard_verifier::{Action, Direction, Kind, PayloadDigest, RpcId, Verdict};

fn bench_base() -> PathBuf {
    let base = std::env::var_os("VANGUARD_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&base).expect("bench dir");
    base
}

/// The filesystem type of `path`, by statfs magic.
fn fs_type(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).expect("path");
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statfs.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return "unknown".into();
    }
    #[allow(clippy::unnecessary_cast)]
    match st.f_type as i64 {
        0xEF53 => "ext4".into(),
        0x0102_1994 => "tmpfs (RAM: fsync is free, not a real disk)".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683E => "btrfs".into(),
        0x794C_7630 => "overlayfs".into(),
        other => format!("magic {other:#x}"),
    }
}

/// Median latency of writing 4 KiB and `fdatasync`ing it, in `dir`: the floor of one commit.
fn fdatasync_latency(dir: &Path) -> Duration {
    use std::os::unix::io::AsRawFd;
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path).expect("probe");
    let mut times = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        f.write_all(&[7u8; 4096]).expect("write");
        // SAFETY: a valid open fd.
        unsafe { libc::fdatasync(f.as_raw_fd()) };
        times.push(t.elapsed());
    }
    let _ = std::fs::remove_file(&path);
    times.sort();
    times[times.len() / 2]
}

/// A `tools/call` request as the proxy records it, with its ~200-byte payload kept.
fn record(identity: &Identity, n: i64) -> Record {
    let payload = format!(
        r#"{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{{"name":"read_file","arguments":{{"path":"/home/user/project/src/module_{n}.rs","encoding":"utf-8"}}}}}}"#
    )
    .into_bytes();
    let mut entry = SessionRecorder::blank_entry(identity, Direction::AgentToServer, Kind::Request);
    entry.method = Some("tools/call".into());
    entry.tool = Some("read_file".into());
    entry.rpc_id = Some(RpcId::Number(n));
    entry.payload = Some(PayloadDigest::of(&payload));
    entry.verdict = Some(Verdict {
        action: Action::Allow,
        layer: "L1".into(),
        rules: vec![],
        reason: None,
        score: None,
    });
    Record {
        entry,
        payload: Some(payload),
        outbox: None,
    }
}

/// Queues `b` records and waits for all; returns the distinct checkpoint sizes (= commits).
async fn round(recorder: &Recorder, identity: &Identity, b: usize, n: &mut i64) -> BTreeSet<u64> {
    let mut tickets = Vec::with_capacity(b);
    for _ in 0..b {
        *n += 1;
        tickets.push(recorder.append(record(identity, *n)).await);
    }
    let mut sizes = BTreeSet::new();
    for t in tickets {
        sizes.insert(t.wait().await.expect("committed").size);
    }
    sizes
}

fn open(dir: &Path, durability: Durability) -> Ledger {
    Ledger::open(&LedgerOptions {
        path: dir.join("l.redb"),
        key_path: None,
        durability,
        new_key: false,
    })
    .expect("ledger opens")
}

fn appends(c: &mut Criterion) {
    let base = bench_base();
    eprintln!(
        "ledger bench: ledgers under {} ({}); 4 KiB write+fdatasync there: median {:?}",
        base.display(),
        fs_type(&base),
        fdatasync_latency(&base)
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let identity = Identity::new("bench-server".into());
    // VANGUARD_BENCH_PREFILL=N: measure appends to a ledger that already holds N entries.
    let prefill: u64 = std::env::var("VANGUARD_BENCH_PREFILL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let configs: [(Durability, &[usize]); 2] = [
        (Durability::Fsync, &[1, 8, 64, 256]),
        (Durability::None, &[1, 64, 256]),
    ];
    for (durability, batches) in configs {
        let dir = tempfile::tempdir_in(&base).expect("tempdir");
        if prefill > 0 {
            // A big ledger, written fast (no fsync), then reopened in the mode under test.
            let ledger = open(dir.path(), Durability::None);
            let recorder = ledger.recorder();
            let mut n = -(prefill as i64) - 1;
            let t = Instant::now();
            while n < -1 {
                let b = (-1 - n).min(4096) as usize;
                rt.block_on(round(&recorder, &identity, b, &mut n));
            }
            drop(recorder);
            ledger.close();
            eprintln!("  prefilled {prefill} entries in {:.1?}", t.elapsed());
        }
        let ledger = open(dir.path(), durability);
        let recorder = ledger.recorder();
        let mut n = 0i64;
        // How the writer really batches a round of B, before measuring (VANGUARD_BENCH_PROBE=0
        // skips this, e.g. under a profiler).
        let probe = std::env::var("VANGUARD_BENCH_PROBE").map_or(true, |v| v != "0");
        for &b in batches.iter().filter(|_| probe) {
            let rounds = (2000 / b).clamp(20, 200);
            let mut commits = 0;
            let t = Instant::now();
            for _ in 0..rounds {
                commits += rt.block_on(round(&recorder, &identity, b, &mut n)).len();
            }
            let elapsed = t.elapsed();
            eprintln!(
                "  {}/B={b}: {:.1} entries per commit, {:.0} entries/s, {:.0} commits/s (probe of {rounds} rounds)",
                durability.as_str(),
                (rounds * b) as f64 / commits as f64,
                (rounds * b) as f64 / elapsed.as_secs_f64(),
                commits as f64 / elapsed.as_secs_f64(),
            );
        }
        let mut group = c.benchmark_group(format!("append/{}", durability.as_str()));
        group.sample_size(20);
        group.measurement_time(Duration::from_secs(4));
        group.warm_up_time(Duration::from_secs(1));
        for &b in batches {
            group.throughput(Throughput::Elements(b as u64));
            group.bench_with_input(BenchmarkId::from_parameter(b), &b, |bench, &b| {
                bench.iter(|| rt.block_on(round(&recorder, &identity, b, &mut n)));
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("pipelined/{}", durability.as_str()));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(5));
        const QUEUED: usize = 4096;
        group.throughput(Throughput::Elements(QUEUED as u64));
        group.bench_function(BenchmarkId::from_parameter(QUEUED), |bench| {
            bench.iter(|| rt.block_on(round(&recorder, &identity, QUEUED, &mut n)));
        });
        group.finish();
        let entries = {
            let snap = vanguard::ledger::Snapshot::new(ledger.database()).expect("snapshot");
            snap.size().expect("size")
        };
        drop(recorder);
        ledger.close();
        let bytes = std::fs::metadata(dir.path().join("l.redb"))
            .map(|m| m.len())
            .unwrap_or(0);
        eprintln!(
            "  {}: ledger grew to {entries} entries, {:.1} MiB ({:.0} bytes/entry)",
            durability.as_str(),
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 / entries.max(1) as f64
        );
    }
}

criterion_group!(benches, appends);
criterion_main!(benches);

//! Load harness for the stdio proxy: the same echo MCP server driven directly and through
//! `vanguard start`, in the same process and alternating, so the ratio shares the machine's
//! noise.
//!
//! ```text
//! cargo bench --bench load -- [--requests N] [--inflight K[,K...]] [--runs R] [--payload BYTES]
//!                             [--durability fsync|none|both] [--max-seconds S] [--timeout SECS]
//!                             [--server-delay-us US]
//! ```
//!
//! Defaults: K = 1 (5,000 requests) and K = 32 (20,000 requests), 3 runs, 256-byte payload, and
//! two proxy configurations against the direct baseline: `proxy` (the default `--durability
//! fsync`: the ledger is fsynced before a message is forwarded) and `proxy-nosync`
//! (`--durability none`). Each proxy writes a fresh ledger in a temporary directory.
//! Each measurement starts a fresh server (or proxy + server), runs `initialize` and
//! `tools/list`, a warm-up, then N `tools/call echo` requests with K in flight: a writer thread
//! sends while fewer than K are unanswered, a reader thread matches responses by id and records
//! send-to-receipt latency. It reports requests/s, p50/p99 latency, CPU time per request of each
//! process, the proxy's peak RSS (VmHWM) and resident set during the load, per run and as
//! min–max ranges with the proxy/direct ratios.
//!
//! With `--echo-server` the binary is instead a minimal stdio MCP server (`initialize`,
//! `tools/list`, `tools/call` of `echo`) that buffers its output and flushes only when no input
//! is pending, so it is never the bottleneck. `--server-delay-us` gives it work instead: each
//! tool call takes that long, one call at a time (like a single-threaded server doing real I/O),
//! to show what the proxy costs next to a server that does something.

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::os::fd::AsFd;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Built by cargo with the same profile as this bench (release settings for `cargo bench`).
const VANGUARD: &str = env!("CARGO_BIN_EXE_vanguard");

fn main() {
    if std::env::args().any(|a| a == "--echo-server") {
        if let Err(e) = echo_server() {
            if e.kind() != io::ErrorKind::BrokenPipe {
                eprintln!("echo server: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let opts = Options::parse();
    // The echo server reads it, directly or under the proxy (children inherit it).
    std::env::set_var(SERVER_DELAY_ENV, opts.server_delay_us.to_string());
    if let Err(e) = drive(&opts) {
        eprintln!("load: error: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// The echo server.

fn echo_server() -> io::Result<()> {
    // Raw file descriptors with our own large buffers: no line buffering on stdout.
    let stdin = File::from(io::stdin().as_fd().try_clone_to_owned()?);
    let stdout = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    let mut input = BufReader::with_capacity(1 << 20, stdin);
    let mut out = BufWriter::with_capacity(1 << 20, stdout);
    let mut line = Vec::with_capacity(1 << 16);
    // Simulated work per tool call (`--server-delay-us`), done one call at a time like a
    // single-threaded server; 0 is the bare echo.
    let work = std::env::var(SERVER_DELAY_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_micros)
        .unwrap_or_default();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if !work.is_zero() && memchr_tools_call(&line) {
            out.flush()?;
            std::thread::sleep(work);
        }
        if let Some(reply) = answer(&line) {
            serde_json::to_writer(&mut out, &reply)?;
            out.write_all(b"\n")?;
        }
        // Flush only when everything read so far is answered: batches under load, and no
        // response waits while the server would block on input.
        if input.buffer().is_empty() {
            out.flush()?;
        }
    }
    out.flush()
}

/// Tells the echo server how long each tool call takes.
const SERVER_DELAY_ENV: &str = "VANGUARD_BENCH_SERVER_DELAY_US";

fn memchr_tools_call(line: &[u8]) -> bool {
    line.windows(12).any(|w| w == b"\"tools/call\"")
}

fn answer(line: &[u8]) -> Option<Value> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let mut msg: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => return Some(error(Value::Null, -32700, &format!("parse error: {e}"))),
    };
    // Notifications and responses get no answer.
    let id = msg.get_mut("id").map(Value::take)?;
    let method = msg.get("method").and_then(Value::as_str)?.to_owned();
    let result = match method.as_str() {
        "initialize" => json!({
            "protocolVersion": "2025-06-18",
            "capabilities": { "tools": {} },
            "serverInfo": { "name": "vanguard-bench-echo", "version": "0.1.0" },
        }),
        "ping" => json!({}),
        "tools/list" => json!({ "tools": [{
            "name": "echo",
            "description": "Returns its text argument.",
            "inputSchema": {
                "type": "object",
                "properties": { "text": { "type": "string" } },
                "required": ["text"],
            },
        }]}),
        "tools/call" => {
            let params = msg
                .get_mut("params")
                .map(Value::take)
                .unwrap_or(Value::Null);
            if params.get("name").and_then(Value::as_str) != Some("echo") {
                return Some(error(id, -32602, "unknown tool"));
            }
            let text = match params.get("arguments").and_then(|a| a.get("text")) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            json!({ "content": [{ "type": "text", "text": text }], "isError": false })
        }
        _ => return Some(error(id, -32601, "method not found")),
    };
    Some(json!({ "jsonrpc": "2.0", "id": id, "result": result }))
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

// ---------------------------------------------------------------------------------------------
// Options.

struct Options {
    requests: Option<u64>,
    inflight: Vec<usize>,
    runs: u32,
    payload: usize,
    timeout: Duration,
    /// Longest measured phase; a slow configuration answers fewer than N requests.
    cap: Duration,
    /// The proxy configurations measured against the direct baseline.
    proxies: Vec<Mode>,
    /// Simulated work per tool call in the echo server, µs.
    server_delay_us: u64,
}

impl Options {
    fn parse() -> Self {
        let mut o = Options {
            requests: None,
            inflight: vec![1, 32],
            runs: 3,
            payload: 256,
            timeout: Duration::from_secs(60),
            cap: Duration::from_secs(4),
            proxies: vec![Mode::Proxy, Mode::ProxyNoSync],
            server_delay_us: 0,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .unwrap_or_else(|| usage(&format!("{name} needs a value")))
            };
            let number = |name: &str, v: String| -> u64 {
                v.parse()
                    .unwrap_or_else(|_| usage(&format!("{name}: not a number: {v}")))
            };
            match arg.as_str() {
                "--requests" => o.requests = Some(number("--requests", value("--requests")).max(1)),
                "--inflight" => {
                    o.inflight = value("--inflight")
                        .split(',')
                        .map(|k| number("--inflight", k.to_owned()).clamp(1, 4096) as usize)
                        .collect();
                }
                "--runs" => o.runs = number("--runs", value("--runs")).clamp(1, 100) as u32,
                "--payload" => {
                    o.payload = number("--payload", value("--payload")).min(16 << 20) as usize
                }
                "--timeout" => {
                    o.timeout = Duration::from_secs(number("--timeout", value("--timeout")).max(1))
                }
                "--max-seconds" => {
                    o.cap =
                        Duration::from_secs(number("--max-seconds", value("--max-seconds")).max(1))
                }
                "--durability" => {
                    o.proxies = match value("--durability").as_str() {
                        "fsync" => vec![Mode::Proxy],
                        "none" => vec![Mode::ProxyNoSync],
                        "both" => vec![Mode::Proxy, Mode::ProxyNoSync],
                        other => usage(&format!("--durability: fsync, none or both, not {other}")),
                    }
                }
                "--server-delay-us" => {
                    o.server_delay_us =
                        number("--server-delay-us", value("--server-delay-us")).min(1_000_000)
                }
                "--help" | "-h" => usage(""),
                // `cargo bench` adds `--bench`; harness flags and filters do not apply here.
                _ => {}
            }
        }
        o
    }

    fn requests_for(&self, inflight: usize) -> u64 {
        self.requests
            .unwrap_or(if inflight == 1 { 5_000 } else { 20_000 })
    }
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("load: {problem}");
    }
    eprintln!(
        "usage: cargo bench --bench load -- [--requests N] [--inflight K[,K...]] [--runs R] \
         [--payload BYTES] [--durability fsync|none|both] [--max-seconds S] [--timeout SECS] \
         [--server-delay-us US]"
    );
    std::process::exit(2)
}

// ---------------------------------------------------------------------------------------------
// The driver.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The echo server alone: the baseline.
    Direct,
    /// `vanguard start` with its default durability: every group commit is fsynced before the
    /// messages in it are forwarded.
    Proxy,
    /// `vanguard start --durability none`: the same path without waiting for the disk.
    ProxyNoSync,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Direct => "direct",
            Mode::Proxy => "proxy",
            Mode::ProxyNoSync => "proxy-nosync",
        }
    }
}

/// What one measurement (one fresh process tree, one load phase) found.
struct Measurement {
    completed: u64,
    requests_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
    /// CPU time per request (µs) of the load client, the proxy (if any) and the echo server.
    cpu_client: f64,
    cpu_proxy: Option<f64>,
    cpu_server: Option<f64>,
    /// Peak RSS of the direct child (the proxy, or the server when direct), and the largest
    /// resident set sampled during the measured phase, in KiB.
    hwm_kib: u64,
    rss_load_kib: u64,
}

fn drive(opts: &Options) -> io::Result<()> {
    let me = std::env::current_exe()?;
    let payload = payload_text(opts.payload);
    println!("vanguard binary: {VANGUARD}");
    println!(
        "machine: {} CPUs online; payload {} B of text per request; ledgers under {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        opts.payload,
        LEDGER_DIR
    );
    if opts.server_delay_us > 0 {
        println!(
            "echo server: {} µs of work per tool call, one call at a time",
            opts.server_delay_us
        );
    }
    let mut modes = vec![Mode::Direct];
    modes.extend(&opts.proxies);
    let started = Instant::now();
    for &k in &opts.inflight {
        let n = opts.requests_for(k);
        let warmup = (n / 10).clamp(100, 2_000);
        println!();
        println!(
            "== {k} in flight, {n} requests (+{warmup} warm-up; each phase stops early after {} s), {} runs ==",
            opts.cap.as_secs(),
            opts.runs
        );
        println!(
            "run mode          answered    req/s    p50 µs    p99 µs  cpu µs/req: client  proxy server  VmHWM MiB  RSS@load MiB"
        );
        let mut runs: Vec<Vec<(Mode, Measurement)>> = Vec::new();
        for run in 1..=opts.runs {
            // Rotate the order so that no mode always runs first (or last) on a drifting machine.
            let mut order = modes.clone();
            let shift = (run as usize - 1) % order.len();
            order.rotate_left(shift);
            let mut results = Vec::new();
            for mode in order {
                let m = measure(&me, mode, &payload, k, n, warmup, opts)?;
                print_row(run, mode, &m);
                results.push((mode, m));
            }
            let direct = find(&results, Mode::Direct);
            for &mode in &opts.proxies {
                let p = find(&results, mode);
                println!(
                    "    {:<12}/direct: throughput {:.3}x, p50 {:+.1} µs, p99 {:+.1} µs",
                    mode.name(),
                    p.requests_per_s / direct.requests_per_s,
                    p.p50_us - direct.p50_us,
                    p.p99_us - direct.p99_us
                );
            }
            runs.push(results);
        }
        summarize(k, &opts.proxies, &runs);
    }
    println!();
    println!("total time {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

fn find(results: &[(Mode, Measurement)], mode: Mode) -> &Measurement {
    &results
        .iter()
        .find(|(m, _)| *m == mode)
        .expect("every mode is measured in every run")
        .1
}

fn print_row(run: u32, mode: Mode, m: &Measurement) {
    let opt = |v: Option<f64>| v.map_or_else(|| "     -".to_owned(), |v| format!("{v:6.1}"));
    println!(
        "{run:<3} {:<13} {:>6} {:>8.0} {:>9.1} {:>9.1}             {:6.1} {} {} {:>10.1}  {:>12.1}{}",
        mode.name(),
        m.completed,
        m.requests_per_s,
        m.p50_us,
        m.p99_us,
        m.cpu_client,
        opt(m.cpu_proxy),
        opt(m.cpu_server),
        m.hwm_kib as f64 / 1024.0,
        m.rss_load_kib as f64 / 1024.0,
        if m.errors > 0 {
            format!("  ({} error responses!)", m.errors)
        } else {
            String::new()
        }
    );
}

fn summarize(k: usize, proxies: &[Mode], runs: &[Vec<(Mode, Measurement)>]) {
    fn range(values: impl Iterator<Item = f64>, digits: usize) -> String {
        let v: Vec<f64> = values.collect();
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.digits$}–{hi:.digits$}")
    }
    let of = |mode: Mode| runs.iter().map(move |r| find(r, mode));
    let d = || of(Mode::Direct);
    println!(
        "-- summary, {k} in flight, min–max over {} runs:",
        runs.len()
    );
    println!(
        "   direct: {} req/s, p50 {} µs, p99 {} µs; server CPU {} µs/req, client CPU {} µs/req, VmHWM {} MiB",
        range(d().map(|m| m.requests_per_s), 0),
        range(d().map(|m| m.p50_us), 1),
        range(d().map(|m| m.p99_us), 1),
        range(d().map(|m| m.cpu_server.unwrap_or(f64::NAN)), 1),
        range(d().map(|m| m.cpu_client), 1),
        range(d().map(|m| m.hwm_kib as f64 / 1024.0), 1)
    );
    for &mode in proxies {
        let p = || of(mode);
        let pairs = || {
            runs.iter()
                .map(move |r| (find(r, Mode::Direct), find(r, mode)))
        };
        println!(
            "   {}: {} req/s, p50 {} µs, p99 {} µs; proxy CPU {} µs/req; VmHWM {} MiB, RSS during load {} MiB",
            mode.name(),
            range(p().map(|m| m.requests_per_s), 0),
            range(p().map(|m| m.p50_us), 1),
            range(p().map(|m| m.p99_us), 1),
            range(p().map(|m| m.cpu_proxy.unwrap_or(f64::NAN)), 1),
            range(p().map(|m| m.hwm_kib as f64 / 1024.0), 1),
            range(p().map(|m| m.rss_load_kib as f64 / 1024.0), 1)
        );
        println!(
            "   {}/direct: throughput {}x; added p50 {} µs, added p99 {} µs",
            mode.name(),
            range(pairs().map(|(d, p)| p.requests_per_s / d.requests_per_s), 3),
            range(pairs().map(|(d, p)| p.p50_us - d.p50_us), 1),
            range(pairs().map(|(d, p)| p.p99_us - d.p99_us), 1)
        );
    }
}

/// `len` bytes of plain benign text (ASCII, nothing to escape).
fn payload_text(len: usize) -> String {
    const WORDS: &str = "The quick brown fox jumps over the lazy dog while the proxy reads every \
                         line twice and forwards the original bytes unchanged. ";
    WORDS.chars().cycle().take(len).collect()
}

/// One request line for `id`, with its newline.
struct RequestTemplate {
    prefix: &'static [u8],
    suffix: Vec<u8>,
}

impl RequestTemplate {
    fn new(payload: &str) -> Self {
        let arguments = serde_json::to_string(&json!({ "text": payload })).expect("serialisable");
        Self {
            prefix: br#"{"jsonrpc":"2.0","id":"#,
            suffix: format!(
                r#","method":"tools/call","params":{{"name":"echo","arguments":{arguments}}}}}"#
            )
            .into_bytes(),
        }
    }

    fn write(&self, out: &mut impl Write, id: u64) -> io::Result<()> {
        out.write_all(self.prefix)?;
        write!(out, "{id}")?;
        out.write_all(&self.suffix)?;
        out.write_all(b"\n")
    }
}

/// Kills a process when a deadline passes, unless dropped first: every measurement ends.
struct Watchdog {
    cancel: Option<mpsc::Sender<()>>,
    fired: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn new(pid: u32, timeout: Duration) -> Self {
        let (cancel, cancelled) = mpsc::channel::<()>();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let thread = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(timeout) {
                flag.store(true, Ordering::SeqCst);
                eprintln!("load: measurement exceeded {timeout:?}; killing pid {pid}");
                // SAFETY: kill(2) with a pid we spawned and have not reaped; no memory involved.
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
            }
        });
        Self {
            cancel: Some(cancel),
            fired,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.cancel.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Where the proxies' ledgers go: a fresh directory per measurement under cargo's scratch
/// directory for benches (on the target directory's disk, so fsync costs what it costs there).
const LEDGER_DIR: &str = env!("CARGO_TARGET_TMPDIR");

fn spawn(me: &std::path::Path, mode: Mode, ledger_dir: &std::path::Path) -> io::Result<Child> {
    let mut cmd = match mode {
        Mode::Direct => Command::new(me),
        Mode::Proxy | Mode::ProxyNoSync => {
            let durability = if mode == Mode::Proxy { "fsync" } else { "none" };
            let mut c = Command::new(VANGUARD);
            c.args(["start", "--shutdown-grace", "2", "--durability", durability])
                .arg("--ledger")
                .arg(ledger_dir.join("bench.redb"))
                .arg("--")
                .arg(me);
            c
        }
    };
    cmd.arg("--echo-server")
        // Quiet by default; `VANGUARD_BENCH_LOG=trace` shows e.g. the ledger's group commits.
        .env(
            "VANGUARD_LOG",
            std::env::var("VANGUARD_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .env_remove("VANGUARD_RULES")
        .env_remove("VANGUARD_LEDGER")
        .env_remove("VANGUARD_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd.spawn()
}

fn measure(
    me: &std::path::Path,
    mode: Mode,
    payload: &str,
    k: usize,
    n: u64,
    warmup: u64,
    opts: &Options,
) -> io::Result<Measurement> {
    let ledger_dir = tempfile::Builder::new()
        .prefix("vanguard-load-")
        .tempdir_in(LEDGER_DIR)?;
    let mut child = spawn(me, mode, ledger_dir.path())?;
    let pid = child.id();
    let watchdog = Watchdog::new(pid, opts.timeout);
    let result = (|| -> io::Result<Measurement> {
        let mut input = BufWriter::with_capacity(1 << 20, child.stdin.take().expect("piped"));
        let mut output = BufReader::with_capacity(1 << 20, child.stdout.take().expect("piped"));
        handshake(&mut input, &mut output)?;
        let template = RequestTemplate::new(payload);
        let warm = Duration::from_secs(1);
        let _ = run_phase(&mut input, &mut output, &template, 0, warmup, k, warm, pid)?;
        let server_pid = match mode {
            Mode::Direct => Some(pid),
            Mode::Proxy | Mode::ProxyNoSync => children_of(pid).into_iter().next(),
        };
        let cpu_before = (
            cpu_ns(None),
            cpu_ns(Some(pid)),
            server_pid.map(|p| cpu_ns(Some(p))),
        );
        let phase = run_phase(
            &mut input,
            &mut output,
            &template,
            warmup,
            n,
            k,
            opts.cap,
            pid,
        )?;
        let n = phase.completed.max(1);
        let cpu_after = (
            cpu_ns(None),
            cpu_ns(Some(pid)),
            server_pid.map(|p| cpu_ns(Some(p))),
        );
        let hwm_kib = proc_status_kib(pid, "VmHWM:").unwrap_or(0);
        let per_req =
            |before: u64, after: u64| (after.saturating_sub(before)) as f64 / 1e3 / n as f64;
        let child_cpu = per_req(cpu_before.1, cpu_after.1);
        let server_cpu = match (cpu_before.2, cpu_after.2) {
            (Some(b), Some(a)) => Some(per_req(b, a)),
            _ => None,
        };
        let (cpu_proxy, cpu_server) = match mode {
            Mode::Direct => (None, Some(child_cpu)),
            Mode::Proxy | Mode::ProxyNoSync => (Some(child_cpu), server_cpu),
        };
        // Closing the server's input ends the session.
        drop(input);
        drop(output);
        Ok(Measurement {
            completed: phase.completed,
            requests_per_s: n as f64 / phase.elapsed.as_secs_f64(),
            p50_us: phase.latency.value_at_quantile(0.50) as f64 / 1e3,
            p99_us: phase.latency.value_at_quantile(0.99) as f64 / 1e3,
            errors: phase.errors,
            cpu_client: per_req(cpu_before.0, cpu_after.0),
            cpu_proxy,
            cpu_server,
            hwm_kib,
            rss_load_kib: phase.max_rss_kib,
        })
    })();
    // Let it exit on end of input; the watchdog still guards the wait.
    let status = wait_bounded(&mut child, Duration::from_secs(10));
    let fired = watchdog.fired.load(Ordering::SeqCst);
    drop(watchdog);
    if fired {
        return Err(io::Error::other(format!("{} timed out", mode.name())));
    }
    let m = result?;
    match status {
        Ok(s) if s.success() => Ok(m),
        Ok(s) => Err(io::Error::other(format!("{} exited with {s}", mode.name()))),
        Err(e) => Err(e),
    }
}

fn wait_bounded(child: &mut Child, limit: Duration) -> io::Result<std::process::ExitStatus> {
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if Instant::now() > until {
            child.kill()?;
            return child.wait();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn handshake(input: &mut impl Write, output: &mut impl BufRead) -> io::Result<()> {
    let init = json!({
        "jsonrpc": "2.0", "id": "init", "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": { "name": "vanguard-load", "version": "0.1.0" },
        },
    });
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let list = json!({ "jsonrpc": "2.0", "id": "list", "method": "tools/list" });
    for (msg, id) in [
        (init, Some("init")),
        (initialized, None),
        (list, Some("list")),
    ] {
        serde_json::to_writer(&mut *input, &msg)?;
        input.write_all(b"\n")?;
        input.flush()?;
        let Some(id) = id else { continue };
        let mut line = Vec::new();
        if output.read_until(b'\n', &mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "no answer to the handshake",
            ));
        }
        let reply: Value = serde_json::from_slice(&line).map_err(io::Error::other)?;
        if reply["id"] != id || reply.get("result").is_none() {
            return Err(io::Error::other(format!("bad handshake reply: {reply}")));
        }
    }
    Ok(())
}

struct Phase {
    /// Requests answered (fewer than asked for when the time cap ended the phase).
    completed: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
    errors: u64,
    max_rss_kib: u64,
}

/// The id of the `ping` that closes each phase: its answer is the last line of the phase (the
/// server answers in order and the proxy releases in order).
const END_ID: &[u8] = br#""id":"end""#;

/// Sends requests `first..first + n` keeping at most `k` unanswered, stopping early once `cap`
/// has passed; returns when every response has arrived.
#[allow(clippy::too_many_arguments)]
fn run_phase(
    input: &mut BufWriter<ChildStdin>,
    output: &mut BufReader<ChildStdout>,
    template: &RequestTemplate,
    first: u64,
    n: u64,
    k: usize,
    cap: Duration,
    pid: u32,
) -> io::Result<Phase> {
    let sent: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
    let count = AtomicU64::new(0);
    let (credit_tx, credit_rx) = mpsc::channel::<()>();
    let origin = Instant::now();
    let abort = AtomicBool::new(false);
    let (sent, count, abort) = (&sent, &count, &abort);
    std::thread::scope(|scope| {
        // The receiver moves into the writer thread (it is not `Sync`).
        let writer = scope.spawn(move || -> io::Result<()> {
            let mut credits = k;
            for i in 0..n {
                while credits == 0 {
                    // About to wait: everything written so far must reach the peer.
                    input.flush()?;
                    match credit_rx.recv_timeout(Duration::from_millis(200)) {
                        Ok(()) => credits += 1,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            if abort.load(Ordering::Relaxed) {
                                return Ok(());
                            }
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
                    }
                    credits += credit_rx.try_iter().count();
                }
                let now = origin.elapsed();
                if now > cap {
                    break;
                }
                sent[i as usize].store(now.as_nanos() as u64, Ordering::Release);
                template.write(input, first + i)?;
                count.store(i + 1, Ordering::Release);
                credits -= 1;
            }
            input.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":\"end\",\"method\":\"ping\"}\n")?;
            input.flush()
        });
        let reader = scope.spawn(|| -> io::Result<(Histogram<u64>, u64, u64, Duration)> {
            let result = (|| {
                let mut latency =
                    Histogram::<u64>::new_with_bounds(1, 120_000_000_000, 3).expect("valid bounds");
                let mut errors = 0;
                let mut received = 0;
                let mut line = Vec::with_capacity(1 << 16);
                let mut last = Duration::ZERO;
                loop {
                    line.clear();
                    if output.read_until(b'\n', &mut line)? == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            format!("output ended after {received} responses"),
                        ));
                    }
                    let now = origin.elapsed();
                    if memchr::memmem::find(&line, END_ID).is_some() {
                        break;
                    }
                    let id = response_id(&line)
                        .filter(|id| (first..first + n).contains(id))
                        .ok_or_else(|| {
                            io::Error::other(format!(
                                "unexpected line: {}",
                                String::from_utf8_lossy(&line[..line.len().min(300)])
                            ))
                        })?;
                    let at = sent[(id - first) as usize].load(Ordering::Acquire);
                    latency.saturating_record((now.as_nanos() as u64).saturating_sub(at));
                    if memchr::memmem::find(&line, br#""error":"#).is_some() {
                        errors += 1;
                        if errors == 1 {
                            eprintln!("error response: {}", String::from_utf8_lossy(&line));
                        }
                    } else if received == 0 {
                        check_echo(&line, template)?;
                    }
                    received += 1;
                    last = now;
                    let _ = credit_tx.send(());
                }
                let expected = count.load(Ordering::Acquire);
                if received != expected {
                    return Err(io::Error::other(format!(
                        "{received} responses to {expected} requests"
                    )));
                }
                Ok((latency, errors, received, last))
            })();
            if result.is_err() {
                abort.store(true, Ordering::Relaxed);
            }
            result
        });
        // Sample the resident set while the load runs.
        let mut max_rss_kib = 0;
        while !reader.is_finished() {
            max_rss_kib = max_rss_kib.max(proc_status_kib(pid, "VmRSS:").unwrap_or(0));
            std::thread::sleep(Duration::from_millis(10));
        }
        let (latency, errors, completed, last) = reader.join().expect("reader thread")?;
        writer.join().expect("writer thread")?;
        Ok(Phase {
            completed,
            elapsed: last,
            latency,
            errors,
            max_rss_kib,
        })
    })
}

/// The numeric id of a response, found without parsing the whole line. The first `"id":`
/// outside a string is the message's own: inside strings every quote is escaped.
fn response_id(line: &[u8]) -> Option<u64> {
    let at = memchr::memmem::find(line, br#""id":"#)? + 5;
    let digits = &line[at..];
    let end = digits.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// The first response of each phase is parsed in full: the text must come back unchanged.
fn check_echo(line: &[u8], template: &RequestTemplate) -> io::Result<()> {
    let reply: Value = serde_json::from_slice(line).map_err(io::Error::other)?;
    let text = reply["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    let expected = serde_json::to_string(text).map_err(io::Error::other)?;
    if memchr::memmem::find(&template.suffix, expected.as_bytes()).is_none() {
        return Err(io::Error::other("echoed text differs from the request"));
    }
    Ok(())
}

/// Pids of the children of `pid` (from every thread's `children` list).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// A `kB` field of `/proc/<pid>/status`.
fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// User + system CPU time of a process (all its threads) in ns; `None` is this process.
fn cpu_ns(pid: Option<u32>) -> u64 {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let Ok(stat) = std::fs::read_to_string(path) else {
        return 0;
    };
    // Fields after the command name (which may contain spaces) start at field 3 (state).
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    (ticks(14) + ticks(15)) * 1_000_000_000 / hz
}

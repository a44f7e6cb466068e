//! Tail latency of L1 inspection: many timed `Inspector::inspect_line` calls with every built-in
//! rule, recorded in an HDR histogram. A report, not an assertion (the target in the issue is
//! p99 < 50 µs for a typical `tools/call`).
//!
//! `cargo bench --bench inspect_latency -- [--iterations N] [--rounds R]`

use hdrhistogram::Histogram;
use std::hint::black_box;
use std::time::Instant;
use vanguard::inspect::{Direction, Inspector};

#[path = "support/messages.rs"]
mod messages;

struct Options {
    iterations: u64,
    rounds: u32,
}

fn options() -> Options {
    let mut o = Options {
        iterations: 200_000,
        rounds: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match arg.as_str() {
            "--iterations" => o.iterations = value("--iterations").max(1),
            "--rounds" => o.rounds = value("--rounds").clamp(1, 100) as u32,
            // `cargo bench` passes `--bench`; filters and other harness flags do not apply.
            _ => {}
        }
    }
    o
}

/// Times `n` inspections of `line`, one histogram entry (ns) per call.
fn measure(inspector: &Inspector, line: &[u8], n: u64) -> Histogram<u64> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds");
    for _ in 0..n {
        let start = Instant::now();
        let inspection = inspector.inspect_line(Direction::AgentToServer, black_box(line));
        let elapsed = start.elapsed();
        black_box(inspection);
        h.saturating_record(elapsed.as_nanos() as u64);
    }
    h
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn row(name: &str, h: &Histogram<u64>) -> [f64; 5] {
    let r = [
        h.mean() / 1000.0,
        us(h.value_at_quantile(0.50)),
        us(h.value_at_quantile(0.99)),
        us(h.value_at_quantile(0.999)),
        us(h.max()),
    ];
    println!(
        "  {name:<34} n={:<7} mean {:>8.2}  p50 {:>8.2}  p99 {:>8.2}  p99.9 {:>8.2}  max {:>9.2}  (µs)",
        h.len(),
        r[0],
        r[1],
        r[2],
        r[3],
        r[4]
    );
    r
}

fn main() {
    let o = options();
    let inspector = messages::inspector();
    let typical = messages::typical();
    let small = messages::small();
    let large = messages::large();
    eprintln!("verdicts:");
    messages::report_verdicts(&inspector, &small);
    messages::report_verdicts(&inspector, &large);

    // Warm caches, the allocator and the CPU clock before anything is recorded.
    let _ = measure(&inspector, &typical.line, o.iterations / 10 + 1);

    println!(
        "L1 inspect_line latency, typical tools/call ({}, {} B), all built-in rules, {} rounds of {}:",
        typical.name,
        typical.line.len(),
        o.rounds,
        o.iterations
    );
    let mut rows = Vec::new();
    for round in 1..=o.rounds {
        let h = measure(&inspector, &typical.line, o.iterations);
        rows.push(row(&format!("round {round}"), &h));
    }
    let range = |i: usize| {
        let lo = rows.iter().map(|r| r[i]).fold(f64::INFINITY, f64::min);
        let hi = rows.iter().map(|r| r[i]).fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.2}–{hi:.2}")
    };
    println!(
        "  range over rounds: p50 {} µs, p99 {} µs, p99.9 {} µs (target: p99 < 50 µs)",
        range(1),
        range(2),
        range(3)
    );

    println!("Other messages (one round each):");
    let n_small = (o.iterations / 4).max(1);
    for case in &small {
        row(case.name, &measure(&inspector, &case.line, n_small));
    }
    let n_large = (o.iterations / 100).max(1);
    for case in &large {
        row(case.name, &measure(&inspector, &case.line, n_large));
    }
}

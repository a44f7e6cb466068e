//! Fills a ledger with N message entries through the ledger API, for measuring the evidence
//! commands on a big ledger (`docs/benchmarks.md`, "Evidence at scale").
//!
//! ```text
//! cargo run --release --example ledger_fill -- /tmp/big.redb 1000000
//! ```
//!
//! Requests and responses alternate, one in 50 blocked, each with a kept 120-byte payload;
//! durability `none` (no fsync: building the file, not measuring appends).

use vanguard::ledger::{Durability, Identity, Ledger, LedgerOptions, Record, SessionRecorder};
use vanguard_verifier::{Action, Direction, Kind, PayloadDigest, RpcId, Verdict};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(n)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: ledger_fill PATH N");
    };
    let n: u64 = n.parse()?;
    let ledger = Ledger::open(&LedgerOptions {
        path: path.clone().into(),
        key_path: None,
        durability: Durability::None,
        new_key: false,
    })?;
    let identity = Identity::new("python3 bench_server.py".into());
    let recorder = ledger.recorder();
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(async {
        let mut tickets = std::collections::VecDeque::new();
        for i in 0..n {
            let request = i % 2 == 0;
            let (direction, kind) = if request {
                (Direction::AgentToServer, Kind::Request)
            } else {
                (Direction::ServerToAgent, Kind::Response)
            };
            let payload = format!(
                r#"{{"jsonrpc":"2.0","id":{},"method":"tools/call","params":{{"name":"read_file","arguments":{{"path":"/srv/data/{i:012}"}}}}}}"#,
                i / 2
            )
            .into_bytes();
            let mut entry = SessionRecorder::blank_entry(&identity, direction, kind);
            entry.method = Some("tools/call".into());
            entry.tool = Some("read_file".into());
            entry.rpc_id = Some(RpcId::Number((i / 2) as i64));
            entry.payload = Some(PayloadDigest::of(&payload));
            let block = i % 50 == 0;
            entry.verdict = Some(Verdict {
                action: if block { Action::Block } else { Action::Allow },
                layer: "L1".into(),
                rules: if block { vec!["FS-007".into()] } else { vec![] },
                reason: block.then(|| "Access to system account files".into()),
                score: None,
            });
            tickets.push_back(
                recorder
                    .append(Record {
                        entry,
                        payload: Some(payload),
                        outbox: None,
                    })
                    .await,
            );
            // Keep a window in flight so the writer commits in big batches.
            if tickets.len() >= 4096 {
                if let Some(t) = tickets.pop_front() {
                    t.wait().await.map_err(|e| anyhow::anyhow!("{e}"))?;
                }
            }
        }
        for t in tickets {
            t.wait().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        anyhow::Ok(())
    })?;
    drop(recorder);
    println!("{path}: {n} entries, vkey {}", ledger.verifier_key());
    ledger.close();
    Ok(())
}

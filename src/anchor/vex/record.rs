//! The outbox record format, the changes the ledger writer applies to the outbox, and the
//! intent report sent to VEX.
//!
//! A record is created by the proxy when it blocks a message and committed in the same redb
//! transaction as the message's ledger entry, keyed by that entry's seq. It holds only what
//! the proxy decided and a digest of what it saw; the seq, entry time and covering checkpoint
//! are read back from the ledger at delivery, when they are known for certain.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the stored [`OutboxItem`] JSON.
pub const OUTBOX_VERSION: u32 = 1;

/// Largest payload sent with `--vex-include-payload`: VEX refuses prompts over 50,000
/// characters, and base64 makes 30,000 bytes 40,000 of them.
pub const MAX_SENT_PAYLOAD: usize = 30_000;

/// Format tag of the report sent to VEX.
pub const REPORT_FORMAT: &str = "vanguard-vex-intent/v1";

/// What the proxy knows about a blocked message when it records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedIntent {
    /// Hex SHA-256 of the message's exact wire bytes; absent for a line refused for its size
    /// (never held in memory, so there is nothing to digest).
    pub intent_digest: Option<String>,
    /// `agent_to_server` or `server_to_agent`, as in the entry.
    pub direction: String,
    /// The verdict's action: always `block` today; kept so the format can carry others.
    pub verdict: String,
    pub layer: String,
    /// Rule ids only. Method, tool name and rule message stay out: the first two are text the
    /// blocked message chose (part of what is never sent), and the entry named by `seq` holds
    /// all three for whoever may read the ledger.
    pub rules: Vec<String>,
    pub session: String,
    /// Base64 of the wire bytes, only under `vanguard start --vex-include-payload`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// Why a payload that was asked for is not there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_omitted: Option<String>,
}

impl BlockedIntent {
    /// The digest of `line` as the report carries it; `None` for an empty (unheld) line.
    pub fn digest_of(line: &[u8]) -> Option<String> {
        (!line.is_empty()).then(|| hex(&Sha256::digest(line)))
    }

    /// `line` as the report's payload, or why it cannot be one (`payload`,
    /// `payload_omitted`).
    pub fn payload_of(line: &[u8]) -> (Option<String>, Option<String>) {
        if line.is_empty() {
            return (
                None,
                Some("the line was refused unread (over the size limit)".into()),
            );
        }
        if line.len() > MAX_SENT_PAYLOAD {
            let why = format!("{} bytes, over the {MAX_SENT_PAYLOAD} sent", line.len());
            return (None, Some(why));
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(line);
        (Some(b64), None)
    }
}

/// How far delivery of one record has come.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Progress {
    /// Not yet accepted by VEX (or not known to be: see `docs/vex.md`, crash windows).
    Pending,
    /// VEX queued a job for it; its outcome is still to be recorded.
    Queued { job_id: String, agent_id: String },
}

/// One outbox row (the value; the key is the blocked entry's seq).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxItem {
    pub v: u32,
    pub intent: BlockedIntent,
    /// Bumped when VEX lost a queued job and the record is sent again: it is part of the
    /// idempotency key, so the new submission is not folded into the lost one.
    pub generation: u32,
    pub progress: Progress,
}

impl OutboxItem {
    pub fn new(intent: BlockedIntent) -> Self {
        Self {
            v: OUTBOX_VERSION,
            intent,
            generation: 0,
            progress: Progress::Pending,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings and integers always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The key VEX can use to fold repeated submissions of this record into one job:
    /// `<ledger origin>#<seq>` (and `/<generation>` after a lost job).
    pub fn idempotency_key(&self, origin: &str, seq: u64) -> String {
        match self.generation {
            0 => format!("{origin}#{seq}"),
            g => format!("{origin}#{seq}/{g}"),
        }
    }
}

/// A change to the outbox, applied by the ledger writer in the same transaction as the entry
/// it travels with (see [`crate::ledger::Record::outbox`]). So a blocked entry and its outbox
/// record, or a recorded VEX answer and the state change it causes, commit together or not
/// at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboxOp {
    /// Queue this entry (the blocked message) for delivery.
    Enqueue(BlockedIntent),
    /// This event records that VEX queued job `job_id` for the record of `blocked_seq`.
    Queued {
        blocked_seq: u64,
        job_id: String,
        agent_id: String,
    },
    /// This event records that VEX no longer knows the job: send the record again.
    Requeue { blocked_seq: u64 },
    /// This event records VEX's final answer: the record leaves the outbox.
    Done { blocked_seq: u64 },
}

/// The covering checkpoint named in a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRef {
    pub size: u64,
    /// Hex SHA-256 Merkle root of the first checkpoint that covers the blocked entry.
    pub root: String,
}

/// What is sent to VEX for one blocked message (the `prompt` of the execute call holds it
/// as JSON). Everything an auditor needs to find the entry in the ledger and check it
/// against a receipt; never the message itself unless the operator asked for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentReport {
    pub format: String,
    /// The ledger's origin (`vanguard.local/<ledger id>`), which names its signing key.
    pub ledger: String,
    /// The blocked entry's seq (its leaf index).
    pub seq: u64,
    /// The blocked entry's time (RFC 3339 UTC).
    pub time: String,
    pub checkpoint: CheckpointRef,
    #[serde(flatten)]
    pub intent: BlockedIntent,
}

impl IntentReport {
    /// The execute call's prompt: a one-line preface and the report as JSON.
    pub fn prompt(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("Audit this intent blocked by the Vanguard MCP proxy ({REPORT_FORMAT}):\n{json}")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent() -> BlockedIntent {
        BlockedIntent {
            intent_digest: BlockedIntent::digest_of(b"abc"),
            direction: "agent_to_server".into(),
            verdict: "block".into(),
            layer: "L1".into(),
            rules: vec!["PATH-001".into()],
            session: "s1".into(),
            payload: None,
            payload_omitted: None,
        }
    }

    #[test]
    fn digest_is_sha256_of_the_wire_bytes() {
        // printf abc | sha256sum
        assert_eq!(
            BlockedIntent::digest_of(b"abc").as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(BlockedIntent::digest_of(b""), None);
    }

    #[test]
    fn item_round_trips_and_refuses_unknown_fields() {
        let mut item = OutboxItem::new(intent());
        item.progress = Progress::Queued {
            job_id: "j".into(),
            agent_id: "a".into(),
        };
        let back = OutboxItem::from_bytes(&item.to_bytes()).expect("parses");
        assert_eq!(back, item);
        let mut v: serde_json::Value = serde_json::from_slice(&item.to_bytes()).expect("json");
        v["extra"] = 1.into();
        assert!(OutboxItem::from_bytes(v.to_string().as_bytes()).is_err());
    }

    #[test]
    fn idempotency_key_names_ledger_seq_and_generation() {
        let mut item = OutboxItem::new(intent());
        assert_eq!(
            item.idempotency_key("vanguard.local/ab", 7),
            "vanguard.local/ab#7"
        );
        item.generation = 2;
        assert_eq!(
            item.idempotency_key("vanguard.local/ab", 7),
            "vanguard.local/ab#7/2"
        );
    }

    #[test]
    fn report_never_carries_a_payload_unless_one_was_kept() {
        let report = IntentReport {
            format: REPORT_FORMAT.into(),
            ledger: "vanguard.local/ab".into(),
            seq: 3,
            time: "2026-01-01T00:00:00.000000000Z".into(),
            checkpoint: CheckpointRef {
                size: 4,
                root: "00".repeat(32),
            },
            intent: intent(),
        };
        let v: serde_json::Value = serde_json::to_value(&report).expect("json");
        assert!(v.get("payload").is_none());
        assert_eq!(v["seq"], 3);
        assert_eq!(v["rules"][0], "PATH-001");
        let mut with = report.clone();
        (with.intent.payload, with.intent.payload_omitted) = BlockedIntent::payload_of(b"abc");
        let v: serde_json::Value = serde_json::to_value(&with).expect("json");
        assert_eq!(v["payload"], "YWJj");
        assert!(v.get("payload_omitted").is_none());
        assert!(with.prompt().contains(REPORT_FORMAT));
        // A payload too large for a VEX prompt is left out, and the report says so.
        let big = vec![b'a'; MAX_SENT_PAYLOAD + 1];
        (with.intent.payload, with.intent.payload_omitted) = BlockedIntent::payload_of(&big);
        assert!(with.intent.payload.is_none());
        assert!(with.intent.payload_omitted.is_some());
        let exact = vec![b'a'; MAX_SENT_PAYLOAD];
        (with.intent.payload, with.intent.payload_omitted) = BlockedIntent::payload_of(&exact);
        assert!(with.prompt().chars().count() < 50_000);
    }
}

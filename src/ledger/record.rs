//! What the proxy records: its decisions turned into ledger entries.

use crate::anchor::vex::{BlockedIntent, OutboxOp};
use crate::inspect::{Direction, MessageKind};
use crate::ledger::writer::{Record, Recorder};
use crate::proxy::pump::{Decision, Observed, Pending, Recording, Route};
use serde_json::Value;
use vanguard_verifier as format;

/// Which payloads (raw wire bytes) are kept beside their entries. Entries always commit to the
/// payload's length and digest, whatever is kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PayloadPolicy {
    /// Keep every payload (the default): the ledger can show what each message said.
    #[default]
    All,
    /// Keep only blocked messages: evidence for refusals, less data at rest.
    Blocked,
    /// Keep none: digests only.
    None,
}

/// Rule id recorded for lines that are not JSON-RPC messages (or exceed the size limit).
pub const RULE_MALFORMED: &str = "L0-MALFORMED";

/// Who is recording: the same for every entry of one proxy session.
#[derive(Clone, Debug)]
pub struct Identity {
    pub session: String,
    /// This proxy process: host and process id.
    pub instance: String,
    /// The upstream server (its command line, or URL).
    pub server: String,
}

impl Identity {
    /// An identity for a new session of this process, with a fresh random session id.
    pub fn new(server: String) -> Self {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown-host".into());
        Self {
            session: random_id(),
            instance: format!("{host}/{}", std::process::id()),
            server,
        }
    }
}

/// 16 random hex digits; falls back to time and pid if the OS has no randomness to give.
pub fn random_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = ((now as u64) ^ u64::from(std::process::id())).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Records a proxy session's decisions.
pub struct SessionRecorder {
    recorder: Recorder,
    identity: Identity,
    payloads: PayloadPolicy,
    vex: Option<VexEnqueue>,
}

/// Whether blocked messages are queued for VEX (only when `VANGUARD_VEX_URL` is set, so an
/// unconfigured proxy pays nothing), and whether their raw bytes go with them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VexEnqueue {
    pub include_payload: bool,
}

impl SessionRecorder {
    pub fn new(recorder: Recorder, identity: Identity, payloads: PayloadPolicy) -> Self {
        Self {
            recorder,
            identity,
            payloads,
            vex: None,
        }
    }

    /// Queues every blocked message for VEX, in the same transaction as its entry.
    pub fn with_vex(mut self, vex: VexEnqueue) -> Self {
        self.vex = Some(vex);
        self
    }

    /// The outbox record for a blocked message (see [`crate::anchor::vex`]).
    fn vex_intent(&self, entry: &format::Entry, line: &[u8]) -> Option<OutboxOp> {
        let vex = self.vex?;
        let verdict = entry.verdict.as_ref()?;
        if verdict.action != format::Action::Block {
            return None;
        }
        let direction = match entry.direction {
            format::Direction::AgentToServer => "agent_to_server",
            format::Direction::ServerToAgent => "server_to_agent",
            format::Direction::Proxy => "proxy",
        };
        let (payload, payload_omitted) = match vex.include_payload {
            true => BlockedIntent::payload_of(line),
            false => (None, None),
        };
        Some(OutboxOp::Enqueue(BlockedIntent {
            intent_digest: BlockedIntent::digest_of(line),
            direction: direction.into(),
            verdict: "block".into(),
            layer: verdict.layer.clone(),
            rules: verdict.rules.clone(),
            session: entry.session.clone(),
            payload,
            payload_omitted,
        }))
    }

    /// An entry with this session's identity; the writer fills `seq`, `time` and `prev`.
    pub fn blank_entry(
        identity: &Identity,
        direction: format::Direction,
        kind: format::Kind,
    ) -> format::Entry {
        format::Entry {
            v: format::ENTRY_VERSION,
            seq: 0,
            time: String::new(),
            session: identity.session.clone(),
            instance: identity.instance.clone(),
            server: identity.server.clone(),
            direction,
            kind,
            method: None,
            tool: None,
            rpc_id: None,
            payload: None,
            verdict: None,
            prev: format::Hash::ZERO,
            event: None,
        }
    }

    /// An event entry (lifecycle, configuration, redaction...): `event` must be an object.
    pub fn event_record(identity: &Identity, event: Value) -> Record {
        let mut entry = Self::blank_entry(identity, format::Direction::Proxy, format::Kind::Event);
        entry.event = Some(event);
        Record {
            entry,
            payload: None,
            outbox: None,
        }
    }

    fn entry_for(&self, direction: Direction, decision: &Decision, line: &[u8]) -> format::Entry {
        let (dir, kind) = match (direction, decision.observed) {
            (Direction::AgentToServer, Observed::Malformed) => {
                (format::Direction::AgentToServer, format::Kind::Request)
            }
            (Direction::ServerToAgent, Observed::Malformed) => {
                (format::Direction::ServerToAgent, format::Kind::Response)
            }
            (d, Observed::Message(k)) => (
                match d {
                    Direction::AgentToServer => format::Direction::AgentToServer,
                    Direction::ServerToAgent => format::Direction::ServerToAgent,
                },
                match k {
                    MessageKind::Request => format::Kind::Request,
                    MessageKind::Notification => format::Kind::Notification,
                    MessageKind::Response | MessageKind::Error => format::Kind::Response,
                },
            ),
        };
        let mut entry = Self::blank_entry(&self.identity, dir, kind);
        entry.method = decision.method.clone();
        entry.tool = decision.tool.clone();
        entry.rpc_id = decision.rpc_id.as_ref().and_then(rpc_id);
        // An oversized line was never held in memory: there are no bytes to digest.
        entry.payload = (!line.is_empty()).then(|| format::PayloadDigest::of(line));
        entry.verdict = Some(verdict_for(decision));
        entry
    }
}

/// The recorded verdict. Malformed lines are refusals by L0 even though no rule matched.
fn verdict_for(decision: &Decision) -> format::Verdict {
    if let Some(problem) = &decision.problem {
        let mut rules = vec![RULE_MALFORMED.to_owned()];
        rules.extend(decision.verdict.rule_ids().map(str::to_owned));
        return format::Verdict {
            action: format::Action::Block,
            layer: "L0".into(),
            rules,
            reason: Some(problem.clone()),
            score: None,
        };
    }
    let decisive = decision.verdict.decisive();
    let action = match (&decision.route, decision.verdict.action()) {
        (Route::Forward, crate::inspect::Action::Warn) => format::Action::Warn,
        (Route::Forward, _) => format::Action::Allow,
        _ => format::Action::Block,
    };
    format::Verdict {
        action,
        layer: decisive.map_or("L1".into(), |f| f.layer.to_string()),
        rules: decision.verdict.rule_ids().map(str::to_owned).collect(),
        reason: decisive.map(|f| f.message.clone()),
        score: None,
    }
}

/// JSON-RPC ids as the entry format holds them. Integers beyond ±2^53 (which the canonical
/// form cannot carry exactly) are kept as their decimal text rather than dropped.
fn rpc_id(id: &Value) -> Option<format::RpcId> {
    const LIMIT: i64 = 1 << 53;
    match id {
        Value::String(s) => Some(format::RpcId::String(s.clone())),
        Value::Number(n) => match n.as_i64() {
            Some(i) if (-LIMIT..=LIMIT).contains(&i) => Some(format::RpcId::Number(i)),
            _ => Some(format::RpcId::String(n.to_string())),
        },
        _ => None,
    }
}

impl Recording for SessionRecorder {
    async fn record(&self, direction: Direction, decision: &Decision, line: &[u8]) -> Pending {
        let entry = self.entry_for(direction, decision, line);
        let keep = match self.payloads {
            PayloadPolicy::All => true,
            PayloadPolicy::Blocked => !matches!(decision.route, Route::Forward),
            PayloadPolicy::None => false,
        };
        let payload = (keep && !line.is_empty()).then(|| line.to_vec());
        let outbox = self.vex_intent(&entry, line);
        let ticket = self
            .recorder
            .append(Record {
                entry,
                payload,
                outbox,
            })
            .await;
        Box::pin(async move {
            ticket
                .wait()
                .await
                .map(|c| c.seq)
                .map_err(|e| e.to_string())
        })
    }
}

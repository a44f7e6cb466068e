//! The ledger entry (DESIGN.md section 4): the leaf data of the Merkle tree, as canonical
//! JSON ([`crate::to_canonical_json`]).
//!
//! ```text
//! {"direction":"agent_to_server","event":null,"instance":"vg-1@host","kind":"request",
//!  "method":"tools/call","payload":{"blake3":"<64 hex>","len":123},
//!  "prev":"<64 hex>","rpc_id":7,"seq":42,"server":"stdio:fs","session":"s-1",
//!  "time":"2026-01-02T03:04:05.123456789Z","tool":"read_file",
//!  "v":1,"verdict":{"action":"allow","layer":"L1","reason":null,"rules":[],"score":null}}
//! ```
//! (one line in the ledger; wrapped here.)
//!
//! Choices:
//! - **Every field is always present**; an absent optional value is `null`, never an omitted
//!   key. One spelling per entry keeps the encoding canonical without per-field rules.
//! - **`prev`** is the RFC 6962 leaf hash (hex) of entry `seq - 1`, so entries form a hash
//!   chain as well as a tree. Entry 0 has no predecessor: its `prev` is 64 zeros, and no
//!   other entry may use that value.
//! - **`time`** is RFC 3339 UTC with exactly nine fractional digits
//!   (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`), so it compares as text; seconds are `00`–`59`. The
//!   crate has no clock: the writer supplies it.
//! - **`event`** is an object exactly when `kind` is `event` (then `direction` is `proxy`);
//!   its contents are free-form, float-free JSON.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hash::{hex_decode_into, hex_encode, leaf_hash, Hash};
use crate::jcs::{
    to_canonical_json, write_decimal, write_string, CanonicalJsonError, MAX_JSON_INTEGER,
};

/// The only entry format version.
pub const ENTRY_VERSION: u32 = 1;
/// Largest `score`: 10000 basis points = 100%.
pub const MAX_SCORE: u32 = 10_000;

/// Why an entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// Not JSON, or not the shape of an entry (unknown or duplicate field, wrong type).
    #[error("entry is not valid entry JSON: {message}")]
    Json {
        /// serde_json's description, with line and column.
        message: String,
    },
    /// A `v` other than [`ENTRY_VERSION`].
    #[error("entry version {found}, want {ENTRY_VERSION}")]
    Version {
        /// The version found.
        found: u32,
    },
    /// An integer field above 2^53 (or below -2^53).
    #[error("field {field} = {value} is outside -2^53..=2^53")]
    IntegerRange {
        /// The field.
        field: &'static str,
        /// Its value.
        value: i128,
    },
    /// A `time` that is not `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` with valid ranges.
    #[error("time {text:?} is not RFC 3339 UTC with 9 fractional digits")]
    Time {
        /// The value.
        text: String,
    },
    /// `event` present without `kind: event`, absent with it, not an object, or an event
    /// not in the `proxy` direction.
    #[error("event entries need kind \"event\", direction \"proxy\" and an event object; others need event null")]
    EventShape,
    /// A score above [`MAX_SCORE`] basis points.
    #[error("score {score} exceeds {MAX_SCORE} basis points")]
    Score {
        /// The score.
        score: u32,
    },
    /// `prev` zero for an entry other than 0, or non-zero for entry 0.
    #[error("entry {seq} has prev {prev}, which is only valid for entry 0")]
    Prev {
        /// The entry's seq.
        seq: u64,
        /// Its prev.
        prev: Hash,
    },
    /// The `event` object has no canonical form (a float, an integer beyond 2^53).
    #[error("event is not canonical JSON")]
    Event(#[source] CanonicalJsonError),
    /// Valid entry, but the bytes are not its canonical encoding.
    #[error("entry is not canonical: first difference at byte {offset}")]
    NotCanonical {
        /// Offset of the first byte that differs from the canonical encoding.
        offset: usize,
    },
}

/// Which way a message went, or `proxy` for what the proxy itself records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the agent (client) to the MCP server.
    AgentToServer,
    /// From the MCP server to the agent.
    ServerToAgent,
    /// Recorded by the proxy itself (events).
    Proxy,
}

/// What the entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A JSON-RPC request.
    Request,
    /// A JSON-RPC response (result or error).
    Response,
    /// A JSON-RPC notification.
    Notification,
    /// A proxy event: lifecycle, configuration or rule change, key rotation, redaction,
    /// anchor result.
    Event,
}

/// A JSON-RPC id: a string or an integer (`null` ids are `rpc_id: null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RpcId {
    /// Integer id, within ±2^53.
    Number(i64),
    /// String id.
    String(String),
}

/// What the inspection decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Forwarded.
    Allow,
    /// Forwarded, flagged.
    Warn,
    /// Not forwarded; the sender got an error.
    Block,
}

/// A BLAKE3-256 digest, serialized as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Blake3Digest(pub [u8; 32]);

impl Blake3Digest {
    /// BLAKE3 of `data`.
    pub fn of(data: &[u8]) -> Blake3Digest {
        Blake3Digest(*blake3::hash(data).as_bytes())
    }
}

impl fmt::Display for Blake3Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex_encode(&self.0))
    }
}

impl fmt::Debug for Blake3Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Blake3Digest({self})")
    }
}

impl Serialize for Blake3Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Blake3Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let mut out = [0u8; 32];
        hex_decode_into(&text, &mut out).map_err(serde::de::Error::custom)?;
        Ok(Blake3Digest(out))
    }
}

/// Length and digest of the exact wire bytes of a message. The bytes themselves are stored
/// apart and may be redacted; the entry keeps committing to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayloadDigest {
    /// Length in bytes.
    pub len: u64,
    /// BLAKE3 of the bytes.
    pub blake3: Blake3Digest,
}

impl PayloadDigest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> PayloadDigest {
        PayloadDigest {
            len: bytes.len() as u64,
            blake3: Blake3Digest::of(bytes),
        }
    }

    /// Whether `bytes` are the payload this digest commits to (length, then BLAKE3).
    pub fn matches(&self, bytes: &[u8]) -> bool {
        self.len == bytes.len() as u64 && self.blake3 == Blake3Digest::of(bytes)
    }
}

/// The inspection verdict recorded with a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    /// The decision.
    pub action: Action,
    /// The layer that decided (e.g. `L1`).
    pub layer: String,
    /// Ids of the rules that matched.
    pub rules: Vec<String>,
    /// Human-readable reason, if any.
    pub reason: Option<String>,
    /// Risk score in basis points (0..=10000), if the layer gives one.
    pub score: Option<u32>,
}

/// One ledger entry. Construct it with public fields, then [`Entry::canonical_bytes`] checks
/// it and encodes it; [`Entry::parse_canonical`] is the inverse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Format version, [`ENTRY_VERSION`].
    pub v: u32,
    /// Position in the ledger (the leaf index).
    pub seq: u64,
    /// RFC 3339 UTC time with nanoseconds, supplied by the writer.
    pub time: String,
    /// Session the message belongs to.
    pub session: String,
    /// Proxy instance: proxy id and host.
    pub instance: String,
    /// Upstream server identity.
    pub server: String,
    /// Direction of the message.
    pub direction: Direction,
    /// What is recorded.
    pub kind: Kind,
    /// JSON-RPC method, if any.
    pub method: Option<String>,
    /// Tool name for `tools/call`, if any.
    pub tool: Option<String>,
    /// JSON-RPC id, if any.
    pub rpc_id: Option<RpcId>,
    /// Digest of the exact wire bytes, if the entry records a message.
    pub payload: Option<PayloadDigest>,
    /// Inspection verdict, if the message was inspected.
    pub verdict: Option<Verdict>,
    /// Leaf hash of entry `seq - 1`; [`Hash::ZERO`] for entry 0.
    pub prev: Hash,
    /// Event details, exactly when `kind` is [`Kind::Event`].
    pub event: Option<Value>,
}

impl Entry {
    /// Checks the entry's invariants, in order: version; `seq`, `rpc_id` and `payload.len`
    /// within 2^53; `time` format; event shape; score range; `prev` against `seq`.
    pub fn validate(&self) -> Result<(), EntryError> {
        if self.v != ENTRY_VERSION {
            return Err(EntryError::Version { found: self.v });
        }
        let limit = i128::from(MAX_JSON_INTEGER);
        let mut ints = vec![("seq", i128::from(self.seq))];
        if let Some(RpcId::Number(n)) = self.rpc_id {
            ints.push(("rpc_id", i128::from(n)));
        }
        if let Some(p) = self.payload {
            ints.push(("payload.len", i128::from(p.len)));
        }
        if let Some((field, value)) = ints.into_iter().find(|(_, v)| v.abs() > limit) {
            return Err(EntryError::IntegerRange { field, value });
        }
        if !valid_time(&self.time) {
            return Err(EntryError::Time {
                text: self.time.clone(),
            });
        }
        let is_event = self.kind == Kind::Event;
        match &self.event {
            Some(Value::Object(_)) if is_event && self.direction == Direction::Proxy => {}
            None if !is_event => {}
            _ => return Err(EntryError::EventShape),
        }
        if let Some(score) = self.verdict.as_ref().and_then(|v| v.score) {
            if score > MAX_SCORE {
                return Err(EntryError::Score { score });
            }
        }
        if (self.seq == 0) != (self.prev == Hash::ZERO) {
            return Err(EntryError::Prev {
                seq: self.seq,
                prev: self.prev,
            });
        }
        Ok(())
    }

    /// The canonical JSON encoding: the leaf data. Checks: [`Entry::validate`], then that the
    /// event has a canonical form.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, EntryError> {
        self.validate()?;
        self.encode()
    }

    /// Writes the fields straight in RFC 8785 order. The entry's keys are fixed, so their
    /// sorted order is known here; only the free-form `event` goes through the general JCS
    /// writer. (The writer thread encodes every entry, so avoiding a `serde_json::Value`
    /// per entry matters; `tests::typed_encoding_matches_jcs` holds it to the general path.)
    fn encode(&self) -> Result<Vec<u8>, EntryError> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"{\"direction\":\"");
        out.extend_from_slice(match self.direction {
            Direction::AgentToServer => b"agent_to_server",
            Direction::ServerToAgent => b"server_to_agent",
            Direction::Proxy => b"proxy",
        });
        out.extend_from_slice(b"\",\"event\":");
        match &self.event {
            Some(event) => out.extend(to_canonical_json(event).map_err(EntryError::Event)?),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"instance\":");
        write_string(&mut out, &self.instance);
        out.extend_from_slice(b",\"kind\":\"");
        out.extend_from_slice(match self.kind {
            Kind::Request => b"request".as_slice(),
            Kind::Response => b"response",
            Kind::Notification => b"notification",
            Kind::Event => b"event",
        });
        out.extend_from_slice(b"\",\"method\":");
        write_optional_string(&mut out, self.method.as_deref());
        out.extend_from_slice(b",\"payload\":");
        match &self.payload {
            Some(p) => {
                out.extend_from_slice(b"{\"blake3\":\"");
                out.extend_from_slice(hex_encode(&p.blake3.0).as_bytes());
                out.extend_from_slice(b"\",\"len\":");
                write_decimal(&mut out, p.len);
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"prev\":\"");
        out.extend_from_slice(hex_encode(&self.prev.0).as_bytes());
        out.extend_from_slice(b"\",\"rpc_id\":");
        match &self.rpc_id {
            Some(RpcId::Number(n)) => {
                if *n < 0 {
                    out.push(b'-');
                }
                write_decimal(&mut out, n.unsigned_abs());
            }
            Some(RpcId::String(s)) => write_string(&mut out, s),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"seq\":");
        write_decimal(&mut out, self.seq);
        out.extend_from_slice(b",\"server\":");
        write_string(&mut out, &self.server);
        out.extend_from_slice(b",\"session\":");
        write_string(&mut out, &self.session);
        out.extend_from_slice(b",\"time\":");
        write_string(&mut out, &self.time);
        out.extend_from_slice(b",\"tool\":");
        write_optional_string(&mut out, self.tool.as_deref());
        out.extend_from_slice(b",\"v\":");
        write_decimal(&mut out, u64::from(self.v));
        out.extend_from_slice(b",\"verdict\":");
        match &self.verdict {
            Some(v) => {
                out.extend_from_slice(b"{\"action\":\"");
                out.extend_from_slice(match v.action {
                    Action::Allow => b"allow".as_slice(),
                    Action::Warn => b"warn",
                    Action::Block => b"block",
                });
                out.extend_from_slice(b"\",\"layer\":");
                write_string(&mut out, &v.layer);
                out.extend_from_slice(b",\"reason\":");
                write_optional_string(&mut out, v.reason.as_deref());
                out.extend_from_slice(b",\"rules\":[");
                for (i, rule) in v.rules.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_string(&mut out, rule);
                }
                out.extend_from_slice(b"],\"score\":");
                match v.score {
                    Some(score) => write_decimal(&mut out, u64::from(score)),
                    None => out.extend_from_slice(b"null"),
                }
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
        Ok(out)
    }

    /// RFC 6962 leaf hash of the canonical encoding (what the next entry's `prev` holds).
    pub fn leaf_hash(&self) -> Result<Hash, EntryError> {
        Ok(leaf_hash(&self.canonical_bytes()?))
    }

    /// Parses an entry and accepts it only in canonical form. Checks, in order: JSON of the
    /// entry shape (no unknown or duplicate fields, integer types); [`Entry::validate`]; the
    /// event's canonical form; the input is byte for byte the canonical encoding
    /// ([`EntryError::NotCanonical`] gives the first differing offset).
    pub fn parse_canonical(bytes: &[u8]) -> Result<Entry, EntryError> {
        let entry: Entry = serde_json::from_slice(bytes).map_err(|e| EntryError::Json {
            message: e.to_string(),
        })?;
        let canonical = entry.canonical_bytes()?;
        if canonical != bytes {
            let offset = canonical
                .iter()
                .zip(bytes)
                .position(|(a, b)| a != b)
                .unwrap_or(canonical.len().min(bytes.len()));
            return Err(EntryError::NotCanonical { offset });
        }
        Ok(entry)
    }
}

fn write_optional_string(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` with a real calendar date and seconds 00–59.
pub(crate) fn valid_time(t: &str) -> bool {
    let b = t.as_bytes();
    if b.len() != 30 {
        return false;
    }
    let shape = b"dddd-dd-ddTdd:dd:dd.dddddddddZ";
    let shaped = b.iter().zip(shape).all(|(&c, &s)| {
        if s == b'd' {
            c.is_ascii_digit()
        } else {
            c == s
        }
    });
    if !shaped {
        return false;
    }
    let num =
        |r: std::ops::Range<usize>| b[r].iter().fold(0u32, |n, &c| n * 10 + u32::from(c - b'0'));
    let (year, month, day) = (num(0..4), num(5..7), num(8..10));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day) && num(11..13) < 24 && num(14..16) < 60 && num(17..19) < 60
}

#[cfg(test)]
#[path = "entry_tests.rs"]
pub(crate) mod tests;

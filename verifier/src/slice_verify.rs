//! Streaming verification of slices (format in [`crate::slice`]): one pass, one line in
//! memory at a time, leaf hashes folded into a [`CompactRange`] as they arrive.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::BufRead;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::checkpoint::{verify_checkpoint, Origin, VerifiedCheckpoint};
use crate::consistency::ConsistencyHint;
use crate::entry_scan::{entry_facts, hex32, scan_prefix, EntryFacts, TIME_LEN};
use crate::hash::{leaf_hash, Hash};
use crate::payload_check::check_payload;
use crate::proof::MAX_TREE_SIZE;
use crate::range::{CompactRange, RangeProof};
use crate::report::{describe_checkpoint, CheckName, EntryCounts, Log};
use crate::slice::{read_line, SliceError, SliceHeader, TrailerJson, MAX_SLICE_LINE, SLICE_FORMAT};
use crate::tlog_proof::MAX_PROOF_HASHES;

/// How many absent-payload and redacted seqs are remembered to match them up; beyond this
/// the counts stay exact but the matching is reported as incomplete.
const MAX_TRACKED: usize = 1 << 16;

/// A slice whose every check passed.
#[derive(Debug, Clone)]
pub struct VerifiedSlice {
    /// The header.
    pub header: SliceHeader,
    /// The checkpoint whose root the slice recomputes.
    pub checkpoint: VerifiedCheckpoint,
    /// Its signed note text.
    pub signed_checkpoint: String,
    /// What the slice held.
    pub counts: EntryCounts,
    /// The trailer's optional consistency proof.
    pub consistency: Option<ConsistencyHint>,
    /// The trailer's anchors (checked by [`crate::verify_file`]).
    pub anchors: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineJson<'a> {
    #[serde(borrow, default)]
    entry: Option<&'a RawValue>,
    #[serde(borrow, default)]
    payload: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    leaf: Option<Hash>,
    #[serde(default)]
    checkpoint: Option<String>,
    #[serde(default)]
    range_proof: Option<crate::slice::RangeProofJson>,
    #[serde(default)]
    consistency: Option<ConsistencyHint>,
    #[serde(default)]
    anchors: Option<Vec<Value>>,
}

/// What a parsed slice line is, by which fields it has.
enum LineKind<'a> {
    Entry {
        entry: &'a RawValue,
        payload: Option<Cow<'a, str>>,
    },
    Leaf {
        seq: u64,
        leaf: Hash,
    },
    Trailer(TrailerJson),
    Other,
}

impl<'a> LineJson<'a> {
    fn kind(self) -> LineKind<'a> {
        match self {
            LineJson {
                entry: Some(entry),
                payload,
                seq: None,
                leaf: None,
                checkpoint: None,
                range_proof: None,
                consistency: None,
                anchors: None,
            } => LineKind::Entry { entry, payload },
            LineJson {
                entry: None,
                payload: None,
                seq: Some(seq),
                leaf: Some(leaf),
                checkpoint: None,
                range_proof: None,
                consistency: None,
                anchors: None,
            } => LineKind::Leaf { seq, leaf },
            LineJson {
                entry: None,
                payload: None,
                seq: None,
                leaf: None,
                checkpoint: Some(checkpoint),
                range_proof: Some(range_proof),
                consistency,
                anchors,
            } => LineKind::Trailer(TrailerJson {
                checkpoint,
                range_proof,
                consistency,
                anchors: anchors.unwrap_or_default(),
            }),
            _ => LineKind::Other,
        }
    }
}

/// Verifies a slice read from `input` with the `trusted` keys, in memory bounded by
/// [`MAX_SLICE_LINE`] plus O(log N).
///
/// Checks, in order:
/// 1. `header`: the first line is a slice header (`format`, `begin < end <= 2^62`, origin,
///    filter object);
/// 2. for each following line, in order: `format` (a line of at most [`MAX_SLICE_LINE`]
///    bytes ending in a newline, an entry or leaf line of the right shape); `entry_canonical`
///    for entry lines; `seq_contiguous` (the entry's or leaf line's seq is the next one, and
///    not past `end`); `hash_chain` (an entry's `prev` is the leaf hash of the line before;
///    for entry `begin`, the header's `prev_leaf` if given); `time_order` (not before the
///    previous full entry); `payload_digest` (an attached payload is canonical base64 and
///    matches the entry's digest);
/// 3. `seq_contiguous`: the trailer comes after exactly `end - begin` entries, and nothing
///    after it (`format`);
/// 4. `checkpoint_signature`: the trailer's checkpoint verifies ([`verify_checkpoint`]);
/// 5. `origin`: it is the header's origin;
/// 6. `checkpoint_covers`: its size is at least `end`;
/// 7. `range_proof`: the leaves and the range proof give its root
///    ([`CompactRange::root`]: proof lengths, then the root).
///
/// Absent payloads are not failures (slices may leave them out, and redaction removes them);
/// they are counted, matched against redaction events (`"event":{"type":"redaction",
/// "seq":N}`) in the slice, and reported as warnings.
pub fn verify_slice<R: BufRead>(
    input: R,
    trusted: &[crate::note::VerifierKey],
) -> Result<VerifiedSlice, SliceError> {
    verify_slice_logged(input, trusted, &mut Log::default())
}

struct Walk {
    header: SliceHeader,
    next: u64,
    prev_leaf: Option<Hash>,
    last_time: Option<(u64, [u8; TIME_LEN])>,
    acc: CompactRange,
    counts: EntryCounts,
    absent: Vec<u64>,
    redacted: BTreeSet<u64>,
    tracking_complete: bool,
    first_prev_checked: bool,
}

pub(crate) fn verify_slice_logged<R: BufRead>(
    mut input: R,
    trusted: &[crate::note::VerifierKey],
    log: &mut Log,
) -> Result<VerifiedSlice, SliceError> {
    let mut buf = Vec::with_capacity(4096);
    let mut line_no: u64 = 1;
    let read = |input: &mut R, buf: &mut Vec<u8>, line_no: u64| {
        read_line(input, buf, MAX_SLICE_LINE).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                SliceError::LineTooLong {
                    line: line_no,
                    max: MAX_SLICE_LINE,
                }
            } else {
                SliceError::Io {
                    message: e.to_string(),
                }
            }
        })
    };
    read(&mut input, &mut buf, line_no)?;
    let header = parse_header(&buf)?;
    log.pass(
        CheckName::Header,
        format!(
            "entries [{}, {}) of {}, filter {}",
            header.begin, header.end, header.origin, header.filter
        ),
    );
    let mut walk = Walk {
        next: header.begin,
        prev_leaf: header.prev_leaf,
        last_time: None,
        acc: CompactRange::new(header.begin),
        counts: EntryCounts::default(),
        absent: Vec::new(),
        redacted: BTreeSet::new(),
        tracking_complete: true,
        first_prev_checked: false,
        header,
    };
    let trailer = loop {
        line_no += 1;
        let n = read(&mut input, &mut buf, line_no)?;
        if n == 0 && walk.next == walk.header.end {
            return Err(SliceError::NoTrailer);
        }
        if n == 0 {
            return Err(walk.truncated());
        }
        let line = buf.strip_suffix(b"\n").ok_or(SliceError::Line {
            line: line_no,
            message: "does not end with a newline".into(),
        })?;
        // The lines the slice writer produces, read without a JSON parser.
        if let Some(fast) = fast_line(line) {
            match fast {
                FastLine::Entry {
                    bytes,
                    facts,
                    payload,
                } => walk.checked(bytes, facts, payload)?,
                FastLine::Leaf { seq, leaf } => walk.reduced(seq, leaf)?,
            }
            continue;
        }
        let parsed: LineJson<'_> = serde_json::from_slice(line).map_err(|e| SliceError::Line {
            line: line_no,
            message: e.to_string(),
        })?;
        match parsed.kind() {
            LineKind::Entry { entry, payload } => {
                walk.full(entry.get().as_bytes(), payload.as_deref())?
            }
            LineKind::Leaf { seq, leaf } => walk.reduced(seq, leaf)?,
            LineKind::Trailer(trailer) => break trailer,
            LineKind::Other => {
                return Err(SliceError::Line {
                    line: line_no,
                    message: "not an entry line, a leaf line or the trailer".into(),
                })
            }
        }
    };
    if walk.next != walk.header.end {
        return Err(walk.truncated());
    }
    walk.log_entry_checks(log);
    line_no += 1;
    if read(&mut input, &mut buf, line_no)? != 0 {
        return Err(SliceError::TrailingData { line: line_no });
    }
    walk.finish(trailer, trusted, log)
}

fn parse_header(line: &[u8]) -> Result<SliceHeader, SliceError> {
    let bad = |message: String, unusable| SliceError::Header { message, unusable };
    let line = line
        .strip_suffix(b"\n")
        .ok_or_else(|| bad("no header line".into(), true))?;
    #[derive(Deserialize)]
    struct Probe {
        format: String,
    }
    let probe: Probe =
        serde_json::from_slice(line).map_err(|e| bad(format!("not a slice header: {e}"), true))?;
    if probe.format != SLICE_FORMAT {
        return Err(bad(
            format!("format {:?}, want {SLICE_FORMAT:?}", probe.format),
            true,
        ));
    }
    let header: SliceHeader =
        serde_json::from_slice(line).map_err(|e| bad(e.to_string(), false))?;
    if header.begin >= header.end || header.end > MAX_TREE_SIZE {
        return Err(bad(
            format!(
                "range [{}, {}) is empty or too large",
                header.begin, header.end
            ),
            false,
        ));
    }
    Origin::new(&header.origin).map_err(|e| bad(e.to_string(), false))?;
    if !header.filter.is_object() {
        return Err(bad("filter is not a JSON object".into(), false));
    }
    Ok(header)
}

impl Walk {
    fn truncated(&self) -> SliceError {
        SliceError::Truncated {
            got: self.next - self.header.begin,
            want: self.header.end - self.header.begin,
            first_missing: self.next,
            end: self.header.end,
        }
    }

    fn expect_seq(&self, seq: u64) -> Result<(), SliceError> {
        if self.next >= self.header.end {
            return Err(SliceError::PastEnd {
                seq,
                end: self.header.end,
            });
        }
        if seq != self.next {
            return Err(SliceError::SeqGap {
                expected: self.next,
                found: seq,
            });
        }
        Ok(())
    }

    fn full(&mut self, bytes: &[u8], payload: Option<&str>) -> Result<(), SliceError> {
        let facts = entry_facts(bytes).map_err(|source| SliceError::Entry {
            seq: self.next,
            source,
        })?;
        self.checked(bytes, facts, payload)
    }

    /// The checks of a full entry whose canonical form was checked when `facts` were read.
    fn checked(
        &mut self,
        bytes: &[u8],
        entry: EntryFacts,
        payload: Option<&str>,
    ) -> Result<(), SliceError> {
        let seq = entry.seq;
        self.expect_seq(seq)?;
        let leaf = leaf_hash(bytes);
        if let Some(expected) = self.prev_leaf {
            if entry.prev != expected {
                return Err(SliceError::PrevMismatch {
                    seq,
                    prev: entry.prev,
                    expected,
                });
            }
            if seq == self.header.begin {
                self.first_prev_checked = true;
            }
        }
        if let Some((previous_seq, previous_time)) = &self.last_time {
            if entry.time < *previous_time {
                return Err(SliceError::TimeBackwards {
                    seq,
                    time: entry.time_text(),
                    previous_seq: *previous_seq,
                    previous_time: String::from_utf8_lossy(previous_time).into_owned(),
                });
            }
        }
        self.last_time = Some((seq, entry.time));
        match (payload, entry.payload) {
            (Some(text), digest) => {
                let bytes = STANDARD
                    .decode(text)
                    .map_err(|_| SliceError::PayloadEncoding { seq })?;
                check_payload(seq, digest.as_ref(), &bytes)?;
                self.counts.payloads += 1;
            }
            (None, Some(_)) => {
                self.counts.payloads_absent += 1;
                if self.absent.len() < MAX_TRACKED {
                    self.absent.push(seq);
                } else {
                    self.tracking_complete = false;
                }
            }
            (None, None) => {}
        }
        if let Some(target) = entry.redaction_of {
            if self.redacted.len() < MAX_TRACKED {
                self.redacted.insert(target);
            } else {
                self.tracking_complete = false;
            }
        }
        self.counts.full += 1;
        self.push_leaf(leaf)
    }

    fn reduced(&mut self, seq: u64, leaf: Hash) -> Result<(), SliceError> {
        self.expect_seq(seq)?;
        self.counts.reduced += 1;
        self.push_leaf(leaf)
    }

    fn push_leaf(&mut self, leaf: Hash) -> Result<(), SliceError> {
        self.acc.append(leaf).map_err(|e| SliceError::RangeProof {
            begin: self.header.begin,
            end: self.header.end,
            size: 0,
            source: e.into(),
        })?;
        self.prev_leaf = Some(leaf);
        self.next += 1;
        Ok(())
    }

    fn log_entry_checks(&self, log: &mut Log) {
        let (begin, end) = (self.header.begin, self.header.end);
        let c = &self.counts;
        log.pass(
            CheckName::SeqContiguous,
            format!(
                "entries [{begin}, {end}): {} in full, {} as leaf hashes",
                c.full, c.reduced
            ),
        );
        log.pass(
            CheckName::EntryCanonical,
            format!("{} full entries are canonical", c.full),
        );
        let first = if self.first_prev_checked {
            format!("entry {begin}'s prev checked against the header's prev_leaf")
        } else {
            format!("entry {begin}'s prev not checked (the header has no prev_leaf or entry {begin} is a leaf line)")
        };
        log.pass(
            CheckName::HashChain,
            format!("every full entry's prev is the previous leaf hash; {first}"),
        );
        log.pass(
            CheckName::TimeOrder,
            format!("{} full entries in time order", c.full),
        );
        log.pass(
            CheckName::PayloadDigest,
            format!(
                "{} attached payloads match; {} absent",
                c.payloads, c.payloads_absent
            ),
        );
    }

    fn finish(
        mut self,
        trailer: TrailerJson,
        trusted: &[crate::note::VerifierKey],
        log: &mut Log,
    ) -> Result<VerifiedSlice, SliceError> {
        let (begin, end) = (self.header.begin, self.header.end);
        let cp = verify_checkpoint(trailer.checkpoint.as_bytes(), trusted)
            .map_err(SliceError::Checkpoint)?;
        log.pass(CheckName::CheckpointSignature, describe_checkpoint(&cp));
        if cp.origin().as_str() != self.header.origin {
            return Err(SliceError::OriginMismatch {
                header: self.header.origin.clone(),
                checkpoint: cp.origin().to_string(),
            });
        }
        log.pass(CheckName::Origin, format!("{}", cp.origin()));
        let size = cp.size();
        if size < end {
            return Err(SliceError::CheckpointTooSmall { begin, end, size });
        }
        log.pass(
            CheckName::CheckpointCovers,
            format!("[{begin}, {end}) lies within the tree of size {size}"),
        );
        let range_error = |source: ProofErrorLike| SliceError::RangeProof {
            begin,
            end,
            size,
            source: crate::receipt::ProofErrorEvidence(source.0),
        };
        let proof = RangeProof {
            left: trailer.range_proof.left,
            right: trailer.range_proof.right,
        };
        if proof.left.len() > MAX_PROOF_HASHES || proof.right.len() > MAX_PROOF_HASHES {
            return Err(range_error(ProofErrorLike(
                "range proof is too long".into(),
            )));
        }
        let computed = self
            .acc
            .root(size, &proof)
            .map_err(|e| range_error(ProofErrorLike(e.to_string())))?;
        if computed != *cp.root() {
            return Err(range_error(ProofErrorLike(format!(
                "root mismatch: expected {}, computed {computed}",
                cp.root()
            ))));
        }
        log.pass(
            CheckName::RangeProof,
            format!(
                "{} leaves and {} + {} proof hashes give root {computed}",
                end - begin,
                proof.left.len(),
                proof.right.len()
            ),
        );
        if let Some(hint) = &trailer.consistency {
            if let Err(message) = hint.check_len() {
                return Err(SliceError::Line { line: 0, message });
            }
        }
        self.warn_payloads(log);
        Ok(VerifiedSlice {
            header: self.header,
            checkpoint: cp,
            signed_checkpoint: trailer.checkpoint,
            counts: self.counts,
            consistency: trailer.consistency,
            anchors: trailer.anchors,
        })
    }

    fn warn_payloads(&mut self, log: &mut Log) {
        let redacted: Vec<u64> = self
            .absent
            .iter()
            .copied()
            .filter(|s| self.redacted.contains(s))
            .collect();
        self.counts.payloads_redacted = redacted.len() as u64;
        if !redacted.is_empty() {
            log.warn(format!(
                "{} payload(s) absent because a redaction event in the slice names them: entries {}",
                redacted.len(),
                list(&redacted)
            ));
        }
        let other: Vec<u64> = self
            .absent
            .iter()
            .copied()
            .filter(|s| !self.redacted.contains(s))
            .collect();
        if !other.is_empty() {
            log.warn(format!(
                "{} payload(s) not included and not redacted in this slice (content unchecked): entries {}",
                other.len(),
                list(&other)
            ));
        }
        if !self.tracking_complete {
            log.warn(format!(
                "more than {MAX_TRACKED} absent payloads or redactions: matching them up is incomplete"
            ));
        }
    }
}

struct ProofErrorLike(String);

/// An entry or leaf line exactly as [`crate::SliceWriter`] writes it.
enum FastLine<'a> {
    Entry {
        bytes: &'a [u8],
        facts: EntryFacts,
        payload: Option<&'a str>,
    },
    Leaf {
        seq: u64,
        leaf: Hash,
    },
}

/// Reads `{"entry":E}`, `{"entry":E,"payload":"B"}` or `{"seq":N,"leaf":"H"}` in the writer's
/// spelling, with `E` accepted by the entry scanner and `B` free of escapes and controls (as
/// base64 is). Anything else (other key order, whitespace, escapes, event entries) is `None`
/// and goes through the JSON parser, which reads the same lines the same way: this is only
/// a shortcut, never a different reading.
fn fast_line(line: &[u8]) -> Option<FastLine<'_>> {
    if let Some(rest) = line.strip_prefix(b"{\"entry\":") {
        let (facts, used) = scan_prefix(rest)?;
        let (bytes, after) = rest.split_at(used);
        let payload = match after {
            b"}" => None,
            _ => {
                let b64 = after
                    .strip_prefix(b",\"payload\":\"")?
                    .strip_suffix(b"\"}")?;
                if b64
                    .iter()
                    .any(|&c| c == b'"' || c == b'\\' || !c.is_ascii() || c < 0x20)
                {
                    return None;
                }
                // ASCII was just checked.
                Some(std::str::from_utf8(b64).ok()?)
            }
        };
        return Some(FastLine::Entry {
            bytes,
            facts,
            payload,
        });
    }
    let rest = line.strip_prefix(b"{\"seq\":")?;
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 || digits > 19 || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    let (number, rest) = rest.split_at(digits);
    let seq: u64 = std::str::from_utf8(number).ok()?.parse().ok()?;
    let hex = rest.strip_prefix(b",\"leaf\":\"")?.strip_suffix(b"\"}")?;
    Some(FastLine::Leaf {
        seq,
        leaf: Hash(hex32(hex)?),
    })
}

/// Up to 20 seqs, then a count of the rest.
fn list(seqs: &[u64]) -> String {
    let mut s: Vec<String> = seqs.iter().take(20).map(u64::to_string).collect();
    if seqs.len() > 20 {
        s.push(format!("and {} more", seqs.len() - 20));
    }
    s.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A reading of an entry line, (entry bytes, payload), or of a leaf line, (seq, leaf).
    type Reading = Result<(Vec<u8>, Option<String>), (u64, Hash)>;

    /// What the JSON parser reads from an entry or leaf line.
    fn parsed(line: &[u8]) -> Option<Reading> {
        let json: LineJson<'_> = serde_json::from_slice(line).ok()?;
        match json.kind() {
            LineKind::Entry { entry, payload } => Some(Ok((
                entry.get().as_bytes().to_vec(),
                payload.map(|p| p.into_owned()),
            ))),
            LineKind::Leaf { seq, leaf } => Some(Err((seq, leaf))),
            LineKind::Trailer(_) | LineKind::Other => None,
        }
    }

    /// The shortcut reads a line exactly as the parser does, or leaves it to the parser.
    fn assert_same_reading(line: &[u8]) {
        let fast = match fast_line(line) {
            None => return,
            Some(FastLine::Entry { bytes, payload, .. }) => {
                Ok((bytes.to_vec(), payload.map(str::to_owned)))
            }
            Some(FastLine::Leaf { seq, leaf }) => Err((seq, leaf)),
        };
        let text = String::from_utf8_lossy(line);
        assert_eq!(Some(fast), parsed(line), "line {text}");
    }

    fn entry_line(seq: u64, payload: Option<&[u8]>) -> Vec<u8> {
        let mut e = crate::entry::tests::request(seq, Hash([7; 32]));
        e.verdict = None;
        let bytes = e.canonical_bytes().expect("canonical");
        let mut line = b"{\"entry\":".to_vec();
        line.extend_from_slice(&bytes);
        if let Some(p) = payload {
            line.extend_from_slice(b",\"payload\":\"");
            line.extend_from_slice(STANDARD.encode(p).as_bytes());
            line.push(b'"');
        }
        line.push(b'}');
        line
    }

    #[test]
    fn writer_lines_take_the_shortcut() {
        for line in [
            entry_line(3, None),
            entry_line(4, Some(b"{\"jsonrpc\":\"2.0\"}")),
            format!("{{\"seq\":12,\"leaf\":\"{}\"}}", Hash([9; 32])).into_bytes(),
        ] {
            assert!(
                fast_line(&line).is_some(),
                "{}",
                String::from_utf8_lossy(&line)
            );
            assert_same_reading(&line);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn corrupted_lines_are_read_as_the_parser_reads_them(
            kind in 0u8..3,
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..3),
        ) {
            let mut line = match kind {
                0 => entry_line(5, None),
                1 => entry_line(6, Some(b"payload bytes")),
                _ => format!("{{\"seq\":42,\"leaf\":\"{}\"}}", Hash([3; 32])).into_bytes(),
            };
            for (at, op, byte) in edits {
                let i = at.index(line.len());
                match op {
                    0 => line[i] ^= byte.max(1),
                    1 => { line.remove(i); }
                    _ => line.insert(i, byte),
                }
                if line.is_empty() { break; }
            }
            assert_same_reading(&line);
        }
    }
}

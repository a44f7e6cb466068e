//! Slices (`.vgslice`, DESIGN.md section 5): the entries `[begin, end)` of a ledger as JSON
//! lines, with a signed checkpoint of size `N >= end` and the compact-range proof that lets a
//! verifier recompute that checkpoint's root from the slice alone.
//!
//! ```text
//! {"format":"vanguard-slice/v1","origin":"vanguard.local/x","begin":5,"end":9,"filter":{...},"prev_leaf":"<hex>"}
//! {"entry":{<canonical entry 5, verbatim>},"payload":"<base64>"}     an entry the filter selects
//! {"seq":6,"leaf":"<hex leaf hash>"}                                 an entry it does not
//! {"entry":{<canonical entry 7>}}                                    payload absent or redacted
//! {"seq":8,"leaf":"<hex>"}
//! {"checkpoint":"<signed note>","range_proof":{"left":["<hex>"],"right":["<hex>",...]}}
//! ```
//!
//! - Every line ends in `\n`; lines are at most [`MAX_SLICE_LINE`] bytes.
//! - Header: `filter` is the exporter's description of what it selected (free-form object,
//!   shown to the auditor, not interpreted); `prev_leaf` (optional) is the leaf hash of entry
//!   `begin - 1`, so that entry `begin`'s `prev` can be checked too.
//! - Entries are embedded verbatim, as in receipts: the bytes of the `entry` value are the
//!   canonical entry whose leaf hash goes into the tree.
//! - Trailer: `range_proof` is [`crate::prove_range`] for `[begin, end)` in the checkpoint's
//!   tree; an optional `consistency` ([`ConsistencyHint`]) proves an older size a prefix;
//!   an optional `anchors` array holds Bitcoin anchor proofs ([`crate::anchor`]), exactly as
//!   in receipts, whose `consistency` links the trailer's checkpoint to the anchored one and
//!   whose anchored checkpoint must contain every entry up to `end`.
//!
//! [`SliceWriter`] writes slices one entry at a time; [`verify_slice`] reads them in bounded
//! memory (O(log N) hashes plus one line).

use std::io::{BufRead, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::checkpoint::CheckpointError;
use crate::consistency::ConsistencyHint;
use crate::entry::EntryError;
use crate::entry_scan::entry_facts;
use crate::hash::{leaf_hash, Hash};
use crate::payload_check::PayloadError;
use crate::range::RangeProof;
use crate::receipt::ProofErrorEvidence;
use crate::report::CheckName;

pub(crate) use crate::slice_verify::verify_slice_logged;
pub use crate::slice_verify::{verify_slice, VerifiedSlice};

/// The `format` of every slice header.
pub const SLICE_FORMAT: &str = "vanguard-slice/v1";
/// Longest line of a slice, newline included (an entry with its base64 payload).
pub const MAX_SLICE_LINE: usize = 48 << 20;

/// The first line of a slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceHeader {
    /// [`SLICE_FORMAT`].
    pub format: String,
    /// The log's origin (its checkpoints' first line).
    pub origin: String,
    /// First entry (seq) in the slice.
    pub begin: u64,
    /// One past the last entry.
    pub end: u64,
    /// The exporter's filter, as it states it (e.g. time range, session, verdict).
    pub filter: Value,
    /// Leaf hash of entry `begin - 1`, if the exporter includes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_leaf: Option<Hash>,
}

impl SliceHeader {
    /// A header for `[begin, end)` of the log `origin`, with the exporter's `filter` object.
    pub fn new(origin: &str, begin: u64, end: u64, filter: Value) -> SliceHeader {
        SliceHeader {
            format: SLICE_FORMAT.into(),
            origin: origin.into(),
            begin,
            end,
            filter,
            prev_leaf: None,
        }
    }
}

/// The range proof as it is written: hex hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RangeProofJson {
    pub(crate) left: Vec<Hash>,
    pub(crate) right: Vec<Hash>,
}

/// The last line of a slice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrailerJson {
    pub(crate) checkpoint: String,
    pub(crate) range_proof: RangeProofJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) consistency: Option<ConsistencyHint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) anchors: Vec<Value>,
}

/// Why a slice could not be written or did not verify. [`SliceError::check`] names the
/// check, [`SliceError::entry`] the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SliceError {
    /// Reading or writing failed.
    #[error("I/O: {message}")]
    Io {
        /// The I/O error.
        message: String,
    },
    /// A line longer than [`MAX_SLICE_LINE`].
    #[error("line {line} is longer than {max} bytes")]
    LineTooLong {
        /// 1-based line number.
        line: u64,
        /// [`MAX_SLICE_LINE`].
        max: usize,
    },
    /// The header line is not a slice header.
    #[error("slice header: {message}")]
    Header {
        /// What is wrong.
        message: String,
        /// Whether it is not a slice at all (wrong format) rather than a broken header.
        unusable: bool,
    },
    /// A line that is not an entry, leaf or trailer line of the right shape.
    #[error("line {line}: {message}")]
    Line {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// An entry whose seq is not the next one expected.
    #[error("entry {found}: expected seq {expected} next ({})", gap_words(*expected, *found))]
    SeqGap {
        /// The seq expected.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// An entry or leaf line after the slice's last entry (where the trailer belongs).
    #[error("entry {seq} is past the slice's end {end}")]
    PastEnd {
        /// The seq found.
        seq: u64,
        /// The header's end.
        end: u64,
    },
    /// The slice ends before `end` (no trailer where entries were expected, or the trailer
    /// comes early).
    #[error(
        "slice ends after {got} of {want} entries: entries {first_missing}..{end} are missing"
    )]
    Truncated {
        /// Entries found.
        got: u64,
        /// Entries the header announces.
        want: u64,
        /// First missing seq.
        first_missing: u64,
        /// The header's end.
        end: u64,
    },
    /// An entry line whose entry is not canonical.
    #[error("entry {seq}: not a canonical ledger entry: {source}")]
    Entry {
        /// The seq the entry stands at.
        seq: u64,
        /// Why.
        #[source]
        source: EntryError,
    },
    /// An entry whose `prev` is not the leaf hash of the entry before it.
    #[error("entry {seq}: prev does not match the leaf hash of entry {} (prev {prev}, leaf hash {expected})", seq.saturating_sub(1))]
    PrevMismatch {
        /// The entry.
        seq: u64,
        /// Its `prev`.
        prev: Hash,
        /// The leaf hash of entry `seq - 1`.
        expected: Hash,
    },
    /// An entry whose time is before the previous full entry's.
    #[error("entry {seq}: time {time} is before entry {previous_seq}'s time {previous_time}")]
    TimeBackwards {
        /// The entry.
        seq: u64,
        /// Its time.
        time: String,
        /// The previous full entry.
        previous_seq: u64,
        /// Its time.
        previous_time: String,
    },
    /// A payload that is not canonical base64.
    #[error("entry {seq}: payload is not canonical base64")]
    PayloadEncoding {
        /// The entry.
        seq: u64,
    },
    /// An attached payload that is not the one its entry commits to.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// The trailer's checkpoint did not verify.
    #[error("checkpoint: {0}")]
    Checkpoint(#[source] CheckpointError),
    /// The checkpoint is of another log than the header names.
    #[error("checkpoint origin {checkpoint:?} is not the slice's origin {header:?}")]
    OriginMismatch {
        /// The header's origin.
        header: String,
        /// The checkpoint's origin.
        checkpoint: String,
    },
    /// The checkpoint's tree is smaller than the slice's end.
    #[error("checkpoint of size {size} does not contain the slice [{begin}, {end})")]
    CheckpointTooSmall {
        /// Slice begin.
        begin: u64,
        /// Slice end.
        end: u64,
        /// Checkpoint size.
        size: u64,
    },
    /// The range proof and the slice's leaves do not lead to the checkpoint's root.
    #[error("leaves [{begin}, {end}) and the range proof do not lead to the root of the checkpoint of size {size}: {source}")]
    RangeProof {
        /// Slice begin.
        begin: u64,
        /// Slice end.
        end: u64,
        /// Checkpoint size.
        size: u64,
        /// What failed (proof length, root).
        #[source]
        source: ProofErrorEvidence,
    },
    /// The input ends after the last entry, without the trailer line.
    #[error("the slice ends without its trailer line (checkpoint and range proof)")]
    NoTrailer,
    /// Bytes after the trailer line.
    #[error("line {line}: data after the trailer")]
    TrailingData {
        /// 1-based line number.
        line: u64,
    },
}

fn gap_words(expected: u64, found: u64) -> String {
    if found > expected {
        format!("entries {expected}..{found} are missing")
    } else {
        "entries out of order or repeated".into()
    }
}

impl SliceError {
    /// The check that failed.
    pub fn check(&self) -> CheckName {
        match self {
            SliceError::Io { .. }
            | SliceError::LineTooLong { .. }
            | SliceError::Line { .. }
            | SliceError::NoTrailer
            | SliceError::TrailingData { .. } => CheckName::Format,
            SliceError::Header { .. } => CheckName::Header,
            SliceError::SeqGap { .. }
            | SliceError::PastEnd { .. }
            | SliceError::Truncated { .. } => CheckName::SeqContiguous,
            SliceError::Entry { .. } => CheckName::EntryCanonical,
            SliceError::PrevMismatch { .. } => CheckName::HashChain,
            SliceError::TimeBackwards { .. } => CheckName::TimeOrder,
            SliceError::PayloadEncoding { .. } | SliceError::Payload(_) => CheckName::PayloadDigest,
            SliceError::Checkpoint(_) => CheckName::CheckpointSignature,
            SliceError::OriginMismatch { .. } => CheckName::Origin,
            SliceError::CheckpointTooSmall { .. } => CheckName::CheckpointCovers,
            SliceError::RangeProof { .. } => CheckName::RangeProof,
        }
    }

    /// The entry (seq) the failure is about, if one.
    pub fn entry(&self) -> Option<u64> {
        match self {
            SliceError::SeqGap { found: seq, .. }
            | SliceError::PastEnd { seq, .. }
            | SliceError::Entry { seq, .. }
            | SliceError::PrevMismatch { seq, .. }
            | SliceError::TimeBackwards { seq, .. }
            | SliceError::PayloadEncoding { seq } => Some(*seq),
            SliceError::Payload(e) => Some(e.seq()),
            SliceError::Truncated { first_missing, .. } => Some(*first_missing),
            _ => None,
        }
    }

    /// Whether the input could not be judged (unreadable, not a slice, untrusted signer).
    pub fn is_unusable(&self) -> bool {
        match self {
            SliceError::Io { .. } => true,
            SliceError::Header { unusable, .. } => *unusable,
            SliceError::Checkpoint(e) => matches!(
                e,
                CheckpointError::Note(crate::note::NoteError::NoTrustedSignature { .. })
                    | CheckpointError::NotSignedByLog { .. }
            ),
            _ => false,
        }
    }
}

fn io_error(e: std::io::Error) -> SliceError {
    SliceError::Io {
        message: e.to_string(),
    }
}

/// Reads one line (through `\n`, or to the end of input) into `buf`, refusing lines longer
/// than `max` bytes without reading more than `max + 1` of them. Returns the bytes read.
pub(crate) fn read_line<R: BufRead>(r: R, buf: &mut Vec<u8>, max: usize) -> std::io::Result<usize> {
    buf.clear();
    let n = std::io::Read::take(r, max as u64 + 1).read_until(b'\n', buf)?;
    if n > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("line longer than {max} bytes"),
        ));
    }
    Ok(n)
}

/// Writes a slice one entry at a time, for the ledger's exporter.
///
/// ```text
/// let mut w = SliceWriter::new(file, &header)?;     // writes the header line
/// for seq in begin..end { w.write_entry(&bytes, payload)? or w.write_leaf(seq, leaf)? }
/// w.finish(&signed_checkpoint, &prove_range(begin, end, size, &store)?)?;
/// ```
#[derive(Debug)]
pub struct SliceWriter<W: Write> {
    out: W,
    begin: u64,
    next: u64,
    end: u64,
}

impl<W: Write> SliceWriter<W> {
    /// Writes the header line. Checks: `format` is [`SLICE_FORMAT`], `begin < end`, the
    /// filter is a JSON object.
    pub fn new(mut out: W, header: &SliceHeader) -> Result<SliceWriter<W>, SliceError> {
        let bad = |message: &str| SliceError::Header {
            message: message.into(),
            unusable: false,
        };
        if header.format != SLICE_FORMAT {
            return Err(bad("format is not vanguard-slice/v1"));
        }
        if header.begin >= header.end {
            return Err(bad("begin must be less than end"));
        }
        if !header.filter.is_object() {
            return Err(bad("filter must be a JSON object"));
        }
        let line = serde_json::to_vec(header).map_err(|e| bad(&e.to_string()))?;
        out.write_all(&line).map_err(io_error)?;
        out.write_all(b"\n").map_err(io_error)?;
        Ok(SliceWriter {
            out,
            begin: header.begin,
            next: header.begin,
            end: header.end,
        })
    }

    /// The seq the next line must be for.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    fn advance(&mut self, seq: u64) -> Result<(), SliceError> {
        if self.next >= self.end {
            return Err(SliceError::PastEnd { seq, end: self.end });
        }
        if seq != self.next {
            return Err(SliceError::SeqGap {
                expected: self.next,
                found: seq,
            });
        }
        self.next += 1;
        Ok(())
    }

    /// Writes an entry the filter selects, with its payload if given. `entry` must be the
    /// canonical entry bytes of seq [`next_seq`](SliceWriter::next_seq). Returns its leaf
    /// hash. Checks, in order: canonical entry; its seq.
    pub fn write_entry(
        &mut self,
        entry: &[u8],
        payload: Option<&[u8]>,
    ) -> Result<Hash, SliceError> {
        let parsed = entry_facts(entry).map_err(|source| SliceError::Entry {
            seq: self.next,
            source,
        })?;
        self.advance(parsed.seq)?;
        let w = &mut self.out;
        w.write_all(b"{\"entry\":").map_err(io_error)?;
        w.write_all(entry).map_err(io_error)?;
        if let Some(p) = payload {
            w.write_all(b",\"payload\":\"").map_err(io_error)?;
            w.write_all(STANDARD.encode(p).as_bytes())
                .map_err(io_error)?;
            w.write_all(b"\"").map_err(io_error)?;
        }
        w.write_all(b"}\n").map_err(io_error)?;
        Ok(leaf_hash(entry))
    }

    /// Writes an entry the filter does not select, as its leaf hash.
    pub fn write_leaf(&mut self, seq: u64, leaf: &Hash) -> Result<(), SliceError> {
        self.advance(seq)?;
        writeln!(self.out, "{{\"seq\":{seq},\"leaf\":\"{leaf}\"}}").map_err(io_error)
    }

    /// Writes the trailer and returns the writer. `proof` is [`crate::prove_range`] for the
    /// slice's range in the tree of the checkpoint's size. Checks: every entry of
    /// `[begin, end)` was written.
    pub fn finish(
        self,
        signed_checkpoint: &str,
        proof: &RangeProof,
        consistency: Option<ConsistencyHint>,
    ) -> Result<W, SliceError> {
        self.finish_anchored(signed_checkpoint, proof, consistency, Vec::new())
    }

    /// [`SliceWriter::finish`], with anchor proofs in the trailer (JSON objects, e.g.
    /// [`crate::BitcoinAnchor::to_value`]).
    pub fn finish_anchored(
        self,
        signed_checkpoint: &str,
        proof: &RangeProof,
        consistency: Option<ConsistencyHint>,
        anchors: Vec<Value>,
    ) -> Result<W, SliceError> {
        let mut this = self;
        if this.next != this.end {
            return Err(SliceError::Truncated {
                got: this.next - this.begin,
                want: this.end - this.begin,
                first_missing: this.next,
                end: this.end,
            });
        }
        let trailer = TrailerJson {
            checkpoint: signed_checkpoint.into(),
            range_proof: RangeProofJson {
                left: proof.left.clone(),
                right: proof.right.clone(),
            },
            consistency,
            anchors,
        };
        let line = serde_json::to_vec(&trailer).map_err(|e| SliceError::Io {
            message: e.to_string(),
        })?;
        this.out.write_all(&line).map_err(io_error)?;
        this.out.write_all(b"\n").map_err(io_error)?;
        this.out.flush().map_err(io_error)?;
        Ok(this.out)
    }
}

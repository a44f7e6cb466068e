//! The verification report: what `vanguard-verify` prints and returns. [`verify_file`] and
//! [`verify_reader`] detect the kind of input, run every check of that kind in order and
//! record each one; the first failure names the entry and the check in plain words.
//!
//! Outcomes and exit codes ([`Report::exit_code`]):
//!
//! | outcome    | code | when |
//! |------------|------|------|
//! | `valid`    | 0    | every check passed (warnings allowed) |
//! | `invalid`  | 1    | a check failed: the input is forged, tampered with or inconsistent |
//! | `unusable` | 2    | the input could not be judged: unreadable, not a known format, too large, no trusted key given, or its checkpoint is signed by no trusted key (the report names the untrusted key) |

use std::io::BufRead;

use serde::Serialize;

use crate::anchor::{verify_anchor_logged, AnchorError, AnchorInfo, AnchorOptions, BitcoinAnchor};
use crate::checkpoint::{verify_checkpoint, CheckpointError, Origin, VerifiedCheckpoint};
use crate::consistency::{ConsistencyFile, ConsistencyHint, CONSISTENCY_FORMAT};
use crate::note::{NoteError, VerifierKey};
use crate::receipt::{verify_receipt_logged, Receipt, RECEIPT_FORMAT};
use crate::slice::{verify_slice_logged, SliceError, SLICE_FORMAT};
use crate::state::{check_remembered, Remember};

/// What kind of input was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A `vanguard-receipt/v1` JSON file.
    Receipt,
    /// A `vanguard-slice/v1` JSON-lines file.
    Slice,
    /// A bare signed checkpoint note.
    Checkpoint,
    /// A `vanguard-consistency/v1` JSON file.
    Consistency,
}

/// The verdict on the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every check passed.
    Valid,
    /// A check failed.
    Invalid,
    /// The input could not be judged.
    Unusable,
}

/// The checks, by stable name (the JSON form is the snake_case variant name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckName {
    /// The input is a readable file of a known format and shape.
    Format,
    /// A trusted key was supplied.
    TrustedKey,
    /// The slice header is well formed.
    Header,
    /// Entries are canonical ledger entries.
    EntryCanonical,
    /// The tlog-proof text is well formed.
    ProofFormat,
    /// The checkpoint is signed by a trusted key named as its origin.
    CheckpointSignature,
    /// The receipt's proof index is the entry's seq.
    IndexMatchesSeq,
    /// The entry is included in the checkpoint's tree.
    Inclusion,
    /// Attached payloads match their entries' digests.
    PayloadDigest,
    /// Slice entries have contiguous seq numbers covering exactly `[begin, end)`.
    SeqContiguous,
    /// Each entry's `prev` is the leaf hash of the entry before it.
    HashChain,
    /// Entry times do not go backwards.
    TimeOrder,
    /// The checkpoint is of the expected log.
    Origin,
    /// The checkpoint's tree contains the whole slice.
    CheckpointCovers,
    /// The slice's leaves and range proof lead to the checkpoint's root.
    RangeProof,
    /// A consistency proof links two checkpoints.
    Consistency,
    /// The checkpoint is consistent with the one remembered for its origin (`--state`).
    Remembered,
    /// A Bitcoin anchor's fields decode.
    AnchorFormat,
    /// The anchor is on the network the auditor checks against.
    AnchorNetwork,
    /// The anchored checkpoint is signed by a trusted key, for the same log.
    AnchorCheckpoint,
    /// The anchored checkpoint contains the receipt's entry or the slice.
    AnchorCovers,
    /// A consistency proof links the checkpoint to the anchored one.
    AnchorConsistency,
    /// The transaction commits to the anchored checkpoint in an OP_RETURN output.
    AnchorCommitment,
    /// The partial Merkle tree proves the transaction in the block.
    AnchorTxInBlock,
    /// The partial Merkle tree's root is the block header's Merkle root.
    AnchorMerkleRoot,
    /// The block header has valid proof-of-work for the network.
    AnchorProofOfWork,
    /// The block is in the chain the auditor trusts (`--headers`, `--trusted-block`).
    AnchorChain,
}

impl CheckName {
    /// What the check establishes, in plain words.
    pub fn title(self) -> &'static str {
        match self {
            CheckName::Format => "input is a known format",
            CheckName::TrustedKey => "a trusted key is given",
            CheckName::Header => "slice header is well formed",
            CheckName::EntryCanonical => "entries are canonical",
            CheckName::ProofFormat => "tlog-proof is well formed",
            CheckName::CheckpointSignature => "checkpoint is signed by a trusted key",
            CheckName::IndexMatchesSeq => "proof index is the entry's seq",
            CheckName::Inclusion => "entry is included in the checkpoint",
            CheckName::PayloadDigest => "payloads match their digests",
            CheckName::SeqContiguous => "seq numbers are contiguous",
            CheckName::HashChain => "hash chain (prev) is unbroken",
            CheckName::TimeOrder => "time does not go backwards",
            CheckName::Origin => "checkpoint origin matches",
            CheckName::CheckpointCovers => "checkpoint covers the slice",
            CheckName::RangeProof => "range proof leads to the checkpoint root",
            CheckName::Consistency => "consistency proof holds",
            CheckName::Remembered => "consistent with the remembered checkpoint",
            CheckName::AnchorFormat => "anchor proof is well formed",
            CheckName::AnchorNetwork => "anchor network",
            CheckName::AnchorCheckpoint => "anchored checkpoint is signed by a trusted key",
            CheckName::AnchorCovers => "anchored checkpoint covers the entries",
            CheckName::AnchorConsistency => {
                "consistency proof links the checkpoint to the anchored one"
            }
            CheckName::AnchorCommitment => {
                "transaction commits to the anchored checkpoint (OP_RETURN)"
            }
            CheckName::AnchorTxInBlock => "transaction is in the block (partial Merkle tree)",
            CheckName::AnchorMerkleRoot => "Merkle tree root is the block header's",
            CheckName::AnchorProofOfWork => "block header has valid proof-of-work",
            CheckName::AnchorChain => "block is in the chain you trust",
        }
    }
}

/// One check that ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Which check.
    pub name: CheckName,
    /// [`CheckName::title`].
    pub title: &'static str,
    /// Whether it passed.
    pub passed: bool,
    /// Evidence: what was compared, or why it failed.
    pub detail: String,
}

/// The first failing check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Which check failed.
    pub check: CheckName,
    /// The ledger entry (seq) it failed at, if it is about one entry.
    pub entry: Option<u64>,
    /// Plain words, e.g. `entry 57: prev does not match the leaf hash of entry 56`.
    pub message: String,
    /// Whether the failure makes the input unusable rather than invalid.
    pub unusable: bool,
}

/// The checkpoint a report verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointInfo {
    /// Its origin.
    pub origin: String,
    /// Its tree size.
    pub size: u64,
    /// Its root hash (hex).
    pub root: String,
    /// `name+id` of the trusted keys whose signatures verified.
    pub signed_by: Vec<String>,
    /// `name+id` of other signatures (unchecked, untrusted).
    pub other_signatures: Vec<String>,
}

/// Everything a verification found. See the module documentation for the outcomes.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The kind of input, if it was recognised.
    pub kind: Option<FileKind>,
    /// The verdict.
    pub outcome: Outcome,
    /// Every check that ran, in order; the last one failed if the outcome is not valid.
    pub checks: Vec<Check>,
    /// The first (and only) failing check.
    pub first_failure: Option<Failure>,
    /// Things an auditor should know that do not fail verification (absent or redacted
    /// payloads, unchecked anchors, a consistency that could not be checked).
    pub warnings: Vec<String>,
    /// The verified checkpoint (the newer one for a consistency file).
    pub checkpoint: Option<CheckpointInfo>,
    /// `name+id` of keys that signed the checkpoint but are not trusted.
    pub untrusted_keys: Vec<String>,
    /// Entries in a slice: (full entries, entries reduced to their leaf hash).
    pub entries: Option<EntryCounts>,
    /// Bitcoin anchors that verified.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anchors: Vec<AnchorInfo>,
    /// The checkpoint to remember for its origin (`--state`), if it should replace the
    /// remembered one: set only when the input is valid and the new checkpoint is proven
    /// consistent with the remembered one (or none is remembered).
    #[serde(skip)]
    pub remember: Option<Remember>,
}

/// Entry counts of a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct EntryCounts {
    /// Entries given in full.
    pub full: u64,
    /// Entries reduced to their leaf hash.
    pub reduced: u64,
    /// Payloads attached and checked.
    pub payloads: u64,
    /// Full entries committing to a payload that is not attached.
    pub payloads_absent: u64,
    /// Of those, payloads that a redaction event in the slice names.
    pub payloads_redacted: u64,
}

impl Report {
    fn new() -> Report {
        Report {
            kind: None,
            outcome: Outcome::Valid,
            checks: Vec::new(),
            first_failure: None,
            warnings: Vec::new(),
            checkpoint: None,
            untrusted_keys: Vec::new(),
            entries: None,
            anchors: Vec::new(),
            remember: None,
        }
    }

    /// A report of input that could not be judged, failing `check` with `message` (for
    /// callers that fail before verification starts, such as a missing file).
    pub fn unusable(check: CheckName, message: String) -> Report {
        let mut report = Report::new();
        report.fail(check, None, message, true);
        report
    }

    /// Process exit code: 0 valid, 1 invalid, 2 unusable.
    pub fn exit_code(&self) -> u8 {
        match self.outcome {
            Outcome::Valid => 0,
            Outcome::Invalid => 1,
            Outcome::Unusable => 2,
        }
    }

    /// Whether every check passed.
    pub fn is_valid(&self) -> bool {
        self.outcome == Outcome::Valid
    }

    /// The report as pretty JSON, ending in a newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The report for people: one line per check, then warnings and the verdict.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        if let Some(kind) = self.kind {
            s.push_str(&format!("{kind:?}\n").to_lowercase());
        }
        for c in &self.checks {
            let mark = if c.passed { "ok  " } else { "FAIL" };
            s.push_str(&format!("  {mark} {}: {}\n", c.title, c.detail));
        }
        for a in &self.anchors {
            let height = match (a.height, a.height_source) {
                (Some(h), "claimed") => format!("claimed height {h} (unverified)"),
                (Some(h), source) => format!("height {h} (bound by {source})"),
                (None, _) => "height unknown".into(),
            };
            let confirmations = a
                .confirmations
                .map(|c| format!(", {c} confirmation(s)"))
                .unwrap_or_default();
            s.push_str(&format!(
                "  anchor: bitcoin {} block {}, {height}{confirmations}, transaction {}\n  \
                 anchor: the checkpoint of size {} existed no later than {} (block time)\n",
                a.network, a.block_hash, a.txid, a.checkpoint_size, a.existed_no_later_than
            ));
        }
        for w in &self.warnings {
            s.push_str(&format!("  warn {w}\n"));
        }
        for k in &self.untrusted_keys {
            s.push_str(&format!("  untrusted key: {k} (not in the trusted set)\n"));
        }
        match (&self.outcome, &self.first_failure) {
            (Outcome::Valid, _) => s.push_str("VALID\n"),
            (Outcome::Invalid, Some(f)) => s.push_str(&format!("INVALID: {}\n", f.message)),
            (Outcome::Unusable, Some(f)) => s.push_str(&format!("UNUSABLE: {}\n", f.message)),
            (_, None) => s.push_str("NOT VALID\n"),
        }
        s
    }

    fn absorb(&mut self, log: Log) {
        self.checks.extend(log.checks);
        self.warnings.extend(log.warnings);
    }

    fn fail_error(
        &mut self,
        check: CheckName,
        entry: Option<u64>,
        error: &dyn std::error::Error,
        unusable: bool,
    ) {
        self.fail(check, entry, error_chain(error), unusable);
    }

    fn fail(&mut self, check: CheckName, entry: Option<u64>, message: String, unusable: bool) {
        self.checks.push(Check {
            name: check,
            title: check.title(),
            passed: false,
            detail: message.clone(),
        });
        self.outcome = if unusable {
            Outcome::Unusable
        } else {
            Outcome::Invalid
        };
        self.first_failure = Some(Failure {
            check,
            entry,
            message,
            unusable,
        });
    }

    /// Records a checkpoint error: untrusted signers make the input unusable and are named.
    fn fail_checkpoint(&mut self, err: &CheckpointError, context: &str) {
        let unusable = match err {
            CheckpointError::Note(NoteError::NoTrustedSignature { unknown }) => {
                self.untrusted_keys = unknown.clone();
                true
            }
            CheckpointError::NotSignedByLog { .. } => true,
            _ => false,
        };
        let message = match err {
            CheckpointError::Note(NoteError::NoTrustedSignature { unknown }) => format!(
                "{context}checkpoint is not signed by any trusted key; it is signed by {} \
                 which {} not trusted",
                if unknown.is_empty() {
                    "no key".to_owned()
                } else {
                    unknown.join(", ")
                },
                if unknown.len() == 1 { "is" } else { "are" }
            ),
            other => format!("{context}{}", error_chain(other)),
        };
        self.fail(CheckName::CheckpointSignature, None, message, unusable);
    }

    fn set_checkpoint(&mut self, cp: &VerifiedCheckpoint) {
        let name = |s: &crate::note::NoteSignature| format!("{}+{}", s.name, s.id);
        self.checkpoint = Some(CheckpointInfo {
            origin: cp.origin().to_string(),
            size: cp.size(),
            root: cp.root().to_string(),
            signed_by: cp.note().verified().iter().map(name).collect(),
            other_signatures: cp.note().unknown().iter().map(name).collect(),
        });
    }
}

/// `error: source: source...`, skipping a source whose text the message already holds.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

/// Passed checks and warnings, in order, as the `verify_*_logged` functions run.
#[derive(Debug, Default)]
pub(crate) struct Log {
    pub(crate) checks: Vec<Check>,
    pub(crate) warnings: Vec<String>,
}

impl Log {
    pub(crate) fn pass(&mut self, name: CheckName, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            title: name.title(),
            passed: true,
            detail: detail.into(),
        });
    }

    pub(crate) fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }
}

/// `origin X, size N, root R, signed by name+id`.
pub(crate) fn describe_checkpoint(cp: &VerifiedCheckpoint) -> String {
    let signers: Vec<String> = cp
        .note()
        .verified()
        .iter()
        .map(|s| format!("{}+{}", s.name, s.id))
        .collect();
    format!(
        "{}, size {}, root {}, signed by {}",
        cp.origin(),
        cp.size(),
        cp.root(),
        signers.join(", ")
    )
}

/// Looks up the signed checkpoint note remembered for an origin (`--state`). `Ok(None)`
/// when none is remembered; `Err` with a description when the state cannot be read.
pub type RememberedLookup<'a> = &'a dyn Fn(&Origin) -> Result<Option<String>, String>;

/// How to verify.
#[derive(Clone, Copy, Default)]
pub struct Options<'a> {
    /// The remembered checkpoints, if the auditor keeps state (`--state DIR`).
    pub remembered: Option<RememberedLookup<'a>>,
    /// How to check Bitcoin anchors (`--network`, `--trusted-block`, `--headers`); `None`
    /// checks them with the defaults.
    pub anchor: Option<&'a AnchorOptions>,
}

/// Verifies a file held in memory. Detects the kind: a JSON object whose first line is a
/// slice header is a slice; another JSON object is a receipt or a consistency file by its
/// `format`; text starting with a checkpoint line and holding a signature block is a bare
/// checkpoint. Then runs that kind's checks (listed at [`crate::verify_receipt`],
/// [`crate::verify_slice`], [`crate::ConsistencyFile::verify`], [`verify_checkpoint`]),
/// then for a receipt or slice the checks of each Bitcoin anchor it carries
/// ([`crate::verify_bitcoin_anchor`], with [`Options::anchor`]), and last, with
/// [`Options::remembered`], the check against the remembered checkpoint.
pub fn verify_file(bytes: &[u8], trusted: &[VerifierKey], options: &Options<'_>) -> Report {
    verify_reader(bytes, trusted, options)
}

/// Like [`verify_file`], reading from `input`: a slice streams in bounded memory; any other
/// kind is read whole, up to its size limit.
pub fn verify_reader<R: BufRead>(
    mut input: R,
    trusted: &[VerifierKey],
    options: &Options<'_>,
) -> Report {
    let mut report = Report::new();
    if trusted.is_empty() {
        report.fail(
            CheckName::TrustedKey,
            None,
            "no trusted key given: pass the log's verifier key with --key or --key-file".into(),
            true,
        );
        return report;
    }
    // The first line decides: a slice header, or the start of another kind.
    let mut first = Vec::new();
    if let Err(e) = crate::slice::read_line(&mut input, &mut first, crate::slice::MAX_SLICE_LINE) {
        report.fail(CheckName::Format, None, format!("reading input: {e}"), true);
        return report;
    }
    if is_slice_header(&first) {
        report.kind = Some(FileKind::Slice);
        let mut log = Log::default();
        let result =
            verify_slice_logged(std::io::Cursor::new(first).chain(input), trusted, &mut log);
        report.absorb(log);
        match result {
            Ok(v) => {
                report.entries = Some(v.counts);
                report.set_checkpoint(&v.checkpoint);
                if !check_anchors(
                    &mut report,
                    &v.anchors,
                    &v.checkpoint,
                    v.header.end,
                    trusted,
                    options,
                ) {
                    return report;
                }
                let hint = v.consistency.clone();
                finish_state(
                    &mut report,
                    &v.checkpoint,
                    &v.signed_checkpoint,
                    hint.as_ref(),
                    None,
                    trusted,
                    options,
                );
            }
            Err(SliceError::Checkpoint(e)) => report.fail_checkpoint(&e, ""),
            Err(e) => {
                let unusable = e.is_unusable();
                report.fail_error(e.check(), e.entry(), &e, unusable);
            }
        }
        return report;
    }
    let limit = crate::receipt::MAX_RECEIPT_SIZE;
    let mut bytes = first;
    let read = (&mut input)
        .take((limit - bytes.len().min(limit)) as u64 + 1)
        .read_to_end(&mut bytes);
    if let Err(e) = read {
        report.fail(CheckName::Format, None, format!("reading input: {e}"), true);
        return report;
    }
    if bytes.len() > limit {
        report.fail(
            CheckName::Format,
            None,
            format!("input is larger than the maximum {limit} bytes"),
            true,
        );
        return report;
    }
    verify_whole(&bytes, trusted, options, report)
}

use std::io::Read as _;

fn is_slice_header(line: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        format: String,
    }
    serde_json::from_slice::<Probe>(line.trim_ascii_end())
        .map(|p| p.format == SLICE_FORMAT)
        .unwrap_or(false)
}

fn verify_whole(
    bytes: &[u8],
    trusted: &[VerifierKey],
    options: &Options<'_>,
    mut report: Report,
) -> Report {
    #[derive(serde::Deserialize)]
    struct Probe {
        format: String,
    }
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"{") {
        let format = match serde_json::from_slice::<Probe>(bytes) {
            Ok(p) => p.format,
            Err(e) => {
                report.fail(
                    CheckName::Format,
                    None,
                    format!("input is JSON without a known \"format\": {e}"),
                    true,
                );
                return report;
            }
        };
        match format.as_str() {
            RECEIPT_FORMAT => return verify_receipt_report(bytes, trusted, options, report),
            CONSISTENCY_FORMAT => {
                return verify_consistency_report(bytes, trusted, options, report)
            }
            other => {
                let other: String = other.chars().take(80).collect();
                report.fail(
                    CheckName::Format,
                    None,
                    format!("unknown format {other:?} (this verifier reads {RECEIPT_FORMAT}, {SLICE_FORMAT}, {CONSISTENCY_FORMAT} and signed checkpoints)"),
                    true,
                );
                return report;
            }
        }
    }
    // A signed note has a blank line followed by signature lines starting with an em dash.
    let looks_like_note = std::str::from_utf8(bytes)
        .map(|t| t.contains("\n\n\u{2014} "))
        .unwrap_or(false);
    if !looks_like_note {
        report.fail(
            CheckName::Format,
            None,
            "input is neither a Vanguard receipt, slice or consistency file nor a signed checkpoint".into(),
            true,
        );
        return report;
    }
    report.kind = Some(FileKind::Checkpoint);
    report.checks.push(Check {
        name: CheckName::Format,
        title: CheckName::Format.title(),
        passed: true,
        detail: "signed checkpoint note".into(),
    });
    match verify_checkpoint(bytes, trusted) {
        Ok(cp) => {
            let mut log = Log::default();
            log.pass(CheckName::CheckpointSignature, describe_checkpoint(&cp));
            report.absorb(log);
            report.set_checkpoint(&cp);
            let signed = String::from_utf8_lossy(bytes);
            finish_state(&mut report, &cp, &signed, None, None, trusted, options);
        }
        Err(e) => report.fail_checkpoint(&e, ""),
    }
    report
}

fn verify_receipt_report(
    bytes: &[u8],
    trusted: &[VerifierKey],
    options: &Options<'_>,
    mut report: Report,
) -> Report {
    report.kind = Some(FileKind::Receipt);
    let receipt = match Receipt::parse(bytes) {
        Ok(r) => r,
        Err(e) => {
            let unusable = matches!(e.check(), CheckName::Format);
            report.fail_error(e.check(), None, &e, unusable);
            return report;
        }
    };
    report.checks.push(Check {
        name: CheckName::Format,
        title: CheckName::Format.title(),
        passed: true,
        detail: format!("{RECEIPT_FORMAT} with a c2sp.org/tlog-proof@v1"),
    });
    let mut log = Log::default();
    let result = verify_receipt_logged(&receipt, trusted, &mut log);
    report.absorb(log);
    match result {
        Ok(v) => {
            report.set_checkpoint(&v.checkpoint);
            if !check_anchors(
                &mut report,
                receipt.anchors(),
                &v.checkpoint,
                v.entry.seq.saturating_add(1),
                trusted,
                options,
            ) {
                return report;
            }
            let signed = receipt.proof().checkpoint.clone();
            finish_state(
                &mut report,
                &v.checkpoint,
                &signed,
                receipt.consistency(),
                None,
                trusted,
                options,
            );
        }
        Err(crate::receipt::ReceiptError::Checkpoint(e)) => report.fail_checkpoint(&e, ""),
        Err(e) => report.fail_error(e.check(), e.entry(), &e, false),
    }
    report
}

fn verify_consistency_report(
    bytes: &[u8],
    trusted: &[VerifierKey],
    options: &Options<'_>,
    mut report: Report,
) -> Report {
    report.kind = Some(FileKind::Consistency);
    let file = match ConsistencyFile::parse(bytes) {
        Ok(f) => f,
        Err(e) => {
            report.fail_error(e.check(), None, &e, true);
            return report;
        }
    };
    report.checks.push(Check {
        name: CheckName::Format,
        title: CheckName::Format.title(),
        passed: true,
        detail: CONSISTENCY_FORMAT.into(),
    });
    let mut log = Log::default();
    let result = file.verify_logged(trusted, &mut log);
    report.absorb(log);
    match result {
        Ok((old, new)) => {
            report.set_checkpoint(&new);
            let hint = ConsistencyHint {
                old_size: old.size(),
                proof: file.proof.clone(),
            };
            finish_state(
                &mut report,
                &new,
                &file.new,
                Some(&hint),
                Some(&old),
                trusted,
                options,
            );
        }
        Err(crate::consistency::ConsistencyFileError::Checkpoint { which, source }) => {
            report.fail_checkpoint(&source, &format!("{which} "))
        }
        Err(e) => report.fail_error(e.check(), None, &e, false),
    }
    report
}

/// Verifies every anchor of a receipt or slice whose checkpoint `base` verified; `needed` is
/// how many entries an anchored checkpoint must contain. Anchors of a type this verifier does
/// not know are reported as warnings. Returns whether every checked anchor passed.
fn check_anchors(
    report: &mut Report,
    anchors: &[serde_json::Value],
    base: &VerifiedCheckpoint,
    needed: u64,
    trusted: &[VerifierKey],
    options: &Options<'_>,
) -> bool {
    let defaults = AnchorOptions::default();
    let anchor_options = options.anchor.unwrap_or(&defaults);
    for (i, value) in anchors.iter().enumerate() {
        let kind = value.get("type").and_then(|t| t.as_str());
        if kind != Some(crate::anchor::BITCOIN_ANCHOR_TYPE) {
            report.warnings.push(format!(
                "anchor {i} is of type {}, which this verifier does not check",
                kind.map(|k| format!("{:?}", k.chars().take(40).collect::<String>()))
                    .unwrap_or_else(|| "(none)".into())
            ));
            continue;
        }
        let mut log = Log::default();
        let result = BitcoinAnchor::from_value(value)
            .map_err(AnchorError::from)
            .and_then(|a| {
                verify_anchor_logged(&a, base, needed, trusted, anchor_options, &mut log)
            });
        report.absorb(log);
        match result {
            Ok(info) => report.anchors.push(info),
            Err(e) => {
                let unusable = e.is_unusable();
                let check = e.check();
                report.fail(
                    check,
                    None,
                    format!("anchor {i}: {}", error_chain(&e)),
                    unusable,
                );
                return false;
            }
        }
    }
    true
}

/// Runs the remembered-checkpoint check when the input is valid and state is kept.
fn finish_state(
    report: &mut Report,
    checkpoint: &VerifiedCheckpoint,
    signed: &str,
    hint: Option<&ConsistencyHint>,
    older: Option<&VerifiedCheckpoint>,
    trusted: &[VerifierKey],
    options: &Options<'_>,
) {
    let Some(lookup) = options.remembered else {
        return;
    };
    let remembered = match lookup(checkpoint.origin()) {
        Ok(r) => r,
        Err(e) => {
            report.fail(
                CheckName::Remembered,
                None,
                format!("reading the remembered checkpoint: {e}"),
                true,
            );
            return;
        }
    };
    let outcome = check_remembered(
        remembered.as_deref(),
        checkpoint,
        signed,
        hint,
        older,
        trusted,
    );
    let mut log = Log::default();
    match outcome {
        Ok(state) => {
            if let Some(detail) = state.passed {
                log.pass(CheckName::Remembered, detail);
            }
            if let Some(w) = state.warning {
                log.warn(w);
            }
            report.absorb(log);
            report.remember = state.remember;
        }
        Err(f) => report.fail(CheckName::Remembered, None, f.message, f.unusable),
    }
}

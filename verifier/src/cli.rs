//! The `vanguard-verify` command line, as a library so that `vanguard verify` runs the same
//! code: [`VerifyArgs`] (clap, flattenable into another CLI) and [`run`].
//!
//! This is the one place the verifier touches the file system: it reads the input, key files
//! and the `--state` directory, and writes the remembered checkpoint back. Everything it
//! decides comes from [`crate::verify_reader`].

use std::fs;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use crate::anchor::{AnchorNetwork, AnchorOptions, HeaderChain, TrustedBlock};
use crate::checkpoint::Origin;
use crate::note::VerifierKey;
use crate::report::{verify_reader, CheckName, Options, Report};

/// Arguments of `vanguard-verify` / `vanguard verify`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct VerifyArgs {
    /// The file to verify: a receipt, a slice (.vgslice), a signed checkpoint or a
    /// consistency proof. The kind is detected.
    pub file: PathBuf,
    /// A trusted verifier key, `<name>+<key id>+<base64 key>` (C2SP vkey). Repeatable. Keys
    /// found inside the file are never trusted.
    #[arg(long = "key", value_name = "VKEY")]
    pub keys: Vec<String>,
    /// A file holding one trusted verifier key. Repeatable.
    #[arg(long = "key-file", value_name = "FILE")]
    pub key_files: Vec<PathBuf>,
    /// A file of trusted verifier keys, one per line (`#` starts a comment). Repeatable.
    #[arg(long = "trust", value_name = "FILE")]
    pub trust_files: Vec<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Remember the largest verified checkpoint per log in DIR, and flag a later input whose
    /// checkpoint is inconsistent with it (a forked history).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Check Bitcoin anchors against this network (main, test, testnet4, signet, regtest).
    /// Default: the network the anchor names; an anchor on another network than the one
    /// given fails. Anchors on anything but main are reported with a loud warning.
    #[arg(long, value_name = "NET")]
    pub network: Option<String>,
    /// A Bitcoin block you trust, `HASH[:HEIGHT]` (hash as explorers show it). Without
    /// --headers, an anchor's block must be one of these; with --headers, each must be in the
    /// header chain. Repeatable.
    #[arg(long = "trusted-block", value_name = "HASH[:HEIGHT]")]
    pub trusted_blocks: Vec<String>,
    /// A Bitcoin header chain you trust: text, a `height N` line then one 80-byte header in
    /// hex per line, each linking to the one before (`bitcoin-cli getblockheader HASH false`
    /// prints one). An anchor's block must be in it; confirmations are counted to its tip.
    #[arg(long, value_name = "FILE")]
    pub headers: Option<PathBuf>,
}

/// `vanguard-verify`'s own command line.
#[derive(Debug, clap::Parser)]
#[command(
    name = "vanguard-verify",
    version,
    about = "Verify Vanguard receipts, ledger slices, checkpoints and consistency proofs offline",
    after_help = "Exit status: 0 valid, 1 invalid (a check failed), 2 unusable input \
                  (unreadable, unknown format, no trusted key)."
)]
pub struct Cli {
    #[command(flatten)]
    /// The verification arguments.
    pub args: VerifyArgs,
}

/// Runs a verification: reads the keys and the input, verifies, prints the report to `out`
/// (text or `--json`), updates `--state`, and returns the exit code (0, 1 or 2). Problems
/// reading keys or the input are reported as unusable input, with a `vanguard-verify: error:`
/// line on `err`.
pub fn run(args: &VerifyArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let keys = match load_keys(args) {
        Ok(keys) => keys,
        Err(message) => return usage_error(&message, args.json, out, err),
    };
    let anchor = match load_anchor_options(args) {
        Ok(a) => a,
        Err(message) => return usage_error(&message, args.json, out, err),
    };
    let file = match fs::File::open(&args.file) {
        Ok(f) => f,
        Err(e) => {
            let message = format!("cannot read {}: {e}", args.file.display());
            return usage_error(&message, args.json, out, err);
        }
    };
    let state = args.state.as_deref();
    let lookup = |origin: &Origin| -> Result<Option<String>, String> {
        match state {
            Some(dir) => read_state(dir, origin),
            None => Ok(None),
        }
    };
    let options = Options {
        remembered: state.map(|_| &lookup as &dyn Fn(&Origin) -> Result<Option<String>, String>),
        anchor: Some(&anchor),
    };
    let report = verify_reader(BufReader::new(file), &keys, &options);
    if let (Some(dir), Some(remember)) = (state, &report.remember) {
        if let Err(e) = write_state(dir, &remember.origin, &remember.note) {
            let _ = writeln!(
                err,
                "vanguard-verify: warning: could not update the state in {}: {e}",
                dir.display()
            );
        }
    }
    print_report(&report, args.json, out);
    report.exit_code()
}

fn print_report(report: &Report, json: bool, out: &mut dyn Write) {
    let text = if json {
        report.to_json()
    } else {
        report.to_text()
    };
    let _ = out.write_all(text.as_bytes());
}

fn usage_error(message: &str, json: bool, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let _ = writeln!(err, "vanguard-verify: error: {message}");
    if json {
        let report = Report::unusable(CheckName::Format, message.to_owned());
        print_report(&report, true, out);
    }
    2
}

fn load_anchor_options(args: &VerifyArgs) -> Result<AnchorOptions, String> {
    let network = match &args.network {
        Some(n) => Some(
            n.parse::<AnchorNetwork>()
                .map_err(|e| format!("--network: {e}"))?,
        ),
        None => None,
    };
    let trusted_blocks = args
        .trusted_blocks
        .iter()
        .map(|t| {
            t.trim()
                .parse::<TrustedBlock>()
                .map_err(|e| format!("--trusted-block: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let headers = match &args.headers {
        Some(path) => {
            let text = fs::read_to_string(path)
                .map_err(|e| format!("cannot read --headers {}: {e}", path.display()))?;
            Some(
                HeaderChain::parse(&text)
                    .map_err(|e| format!("--headers {}: {e}", path.display()))?,
            )
        }
        None => None,
    };
    Ok(AnchorOptions {
        network,
        trusted_blocks,
        headers,
    })
}

fn load_keys(args: &VerifyArgs) -> Result<Vec<VerifierKey>, String> {
    let mut keys = Vec::new();
    for text in &args.keys {
        keys.push(
            text.trim()
                .parse::<VerifierKey>()
                .map_err(|e| format!("--key {text:?}: {e}"))?,
        );
    }
    for path in args.key_files.iter().chain(&args.trust_files) {
        let text = fs::read_to_string(path)
            .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
        let mut found = 0;
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let key = line
                .parse::<VerifierKey>()
                .map_err(|e| format!("{} line {}: {e}", path.display(), i + 1))?;
            keys.push(key);
            found += 1;
        }
        if found == 0 {
            return Err(format!("{} holds no verifier key", path.display()));
        }
    }
    Ok(keys)
}

/// File name of an origin's remembered checkpoint: the origin with every byte outside
/// `[A-Za-z0-9._-]` written `%XX`, then `.checkpoint`.
pub fn state_file_name(origin: &str) -> String {
    let mut s = String::with_capacity(origin.len() + 11);
    for b in origin.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s.push_str(".checkpoint");
    s
}

fn read_state(dir: &Path, origin: &Origin) -> Result<Option<String>, String> {
    let path = dir.join(state_file_name(origin.as_str()));
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn write_state(dir: &Path, origin: &str, note: &str) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let path = dir.join(state_file_name(origin));
    let tmp = dir.join(format!(".{}.tmp", state_file_name(origin)));
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(note.as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &path)
}

/// `vanguard-verify`'s `main`: parses `std::env::args`, runs, and returns the exit code.
pub fn main() -> std::process::ExitCode {
    use clap::Parser as _;
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors.
            return std::process::ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let code = run(
        &cli.args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_file_names_are_safe() {
        assert_eq!(
            state_file_name("vanguard.local/abc"),
            "vanguard.local%2Fabc.checkpoint"
        );
        assert_eq!(state_file_name("../x y"), "..%2Fx%20y.checkpoint");
        assert!(!state_file_name("a/../../b").contains('/'));
    }
}

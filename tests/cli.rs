//! The `vanguard` binary's command line: help, errors and exit codes, driven as a user would.

use std::process::{Command, Output};

fn vanguard(args: &[&str]) -> Output {
    // Default ledgers go under the test's own data dir, never the user's (whose ledgers may
    // be of another build's format).
    let data = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-data");
    Command::new(env!("CARGO_BIN_EXE_vanguard"))
        .args(args)
        .env("XDG_DATA_HOME", data)
        .env_remove("VANGUARD_LEDGER")
        .output()
        .expect("vanguard runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_subcommand_help_explains_itself_with_an_example() {
    for args in [
        &["start", "--help"][..],
        &["rules", "list", "--help"],
        &["rules", "test", "--help"],
        &["info", "--help"],
        &["vex", "status", "--help"],
    ] {
        let out = vanguard(args);
        assert!(out.status.success(), "{args:?}");
        let help = text(&out.stdout);
        assert!(
            help.contains("Example"),
            "{args:?} help has no example:\n{help}"
        );
    }
}

#[test]
fn start_without_a_server_says_how_to_give_one() {
    let out = vanguard(&["start"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("vanguard: error:") && err.contains("--server"),
        "{err}"
    );
}

#[test]
fn a_pack_that_does_not_compile_stops_startup_naming_file_rule_and_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pack = dir.path().join("broken.yaml");
    std::fs::write(
        &pack,
        "- id: GOOD-1\n  severity: LOW\n  action: WARN\n  pattern: 'x'\n  message: m\n\
         - id: BAD-7\n  severity: HIGH\n  action: BLOCK\n  pattern: '(unclosed'\n  message: m\n",
    )
    .expect("write pack");
    let rules = dir.path().to_str().expect("utf-8 path");
    let out = vanguard(&["start", "--rules", rules, "--", "cat"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("broken.yaml"), "{err}");
    assert!(err.contains("BAD-7"), "{err}");
    assert!(err.contains("unclosed group"), "{err}");
}

#[test]
fn a_pack_that_does_not_parse_names_the_file_and_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("typo.yaml"),
        "- id: X\n  severity: SEVERE\n",
    )
    .expect("write");
    let rules = dir.path().to_str().expect("utf-8 path");
    let out = vanguard(&["rules", "list", "--rules", rules]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("typo.yaml") && err.contains("line"), "{err}");
}

#[test]
fn an_empty_rules_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().to_str().expect("utf-8 path");
    let out = vanguard(&["rules", "test", "--rules", rules]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no rule packs"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_built_in_packs_pass_their_own_examples() {
    let out = vanguard(&["rules", "test"]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains(" 0 failed"), "{report}");
}

#[test]
fn rules_test_fails_when_an_example_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("p.yaml"),
        "- id: T-1\n  severity: HIGH\n  action: BLOCK\n  pattern: 'rm -rf /'\n  message: m\n  \
         examples:\n    block: ['rm -rf /', 'ls -la']\n    allow: ['rm -rf ./build']\n",
    )
    .expect("write");
    let rules = dir.path().to_str().expect("utf-8 path");
    let out = vanguard(&["rules", "test", "--rules", rules]);
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert!(
        report.contains("FAIL T-1") && report.contains("\"ls -la\""),
        "{report}"
    );
    assert!(report.contains("1 failed"), "{report}");
}

#[test]
fn server_that_cannot_start_is_a_clear_error() {
    let out = vanguard(&["start", "--server", "/nonexistent/mcp-server --flag"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("/nonexistent/mcp-server"), "{err}");
}

#[test]
fn rules_test_notes_rules_whose_word_boundaries_were_rewritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("p.yaml"),
        "- id: W-1\n  severity: HIGH\n  action: BLOCK\n  pattern: '\\bsudo\\b'\n  message: m\n  \
         examples:\n    block: ['sudo -i', 'é sudo']\n    allow: ['pseudonym']\n\
         - id: W-2\n  severity: HIGH\n  action: BLOCK\n  pattern: '(?-u:\\b)su(?-u:\\b)'\n  \
         message: m\n  examples:\n    block: ['su -']\n",
    )
    .expect("write");
    let rules = dir.path().to_str().expect("utf-8 path");
    let out = vanguard(&["rules", "test", "--rules", rules]);
    let report = text(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("NOTE W-1") && report.contains(r"(?-u:\b)sudo(?-u:\b)"),
        "{report}"
    );
    assert!(!report.contains("NOTE W-2"), "{report}");
    assert!(report.contains(" 0 failed"), "{report}");
    // One warning for the pack, naming the rewritten rule only.
    let log = text(&out.stderr);
    assert_eq!(
        log.matches("rewritten to ASCII word boundaries").count(),
        1,
        "{log}"
    );
    assert!(log.contains("W-1") && !log.contains("W-2"), "{log}");
}

//! Runs tests/ots_check.py (python-opentimestamps, an implementation that is not ours) on
//! `.ots` files, in the venv that scripts/setup.sh installs.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn venv_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var_os("VANGUARD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".venv"));
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "{} not found: run scripts/setup.sh (or set VANGUARD_VENV) to install python-opentimestamps",
        python.display()
    );
    python
}

/// Checks every case of `manifest` (the format is in tests/ots_check.py's docstring) and
/// returns one report per case.
pub fn run(manifest: &[Value], dir: &Path) -> Vec<Value> {
    let path = dir.join("manifest.json");
    std::fs::write(&path, serde_json::to_vec(manifest).expect("json")).expect("write manifest");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ots_check.py");
    let out = Command::new(venv_python())
        .arg(&script)
        .arg(&path)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "ots_check.py failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ots_check.py prints a JSON list")
}

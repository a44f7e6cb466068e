//! Rule packs: the YAML files under `rules/` and any directory given with `--rules`.
//!
//! A pack is a YAML list of rules. The fields of McpVanguard packs load unchanged (`id`,
//! `description`, `severity`, `action`, `match_fields`, `pattern`, `message`, `match_tools`,
//! `recursive_match`); ours add `category`, `direction` and `examples`. See `docs/rules.md`.

use crate::inspect::verdict::{Action, Severity};
use crate::inspect::word_boundary;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The packs shipped inside the binary, so `vanguard start` works with no files on disk.
pub const EMBEDDED_PACKS: &[(&str, &str)] = &[
    ("command.yaml", include_str!("../../rules/command.yaml")),
    (
        "filesystem.yaml",
        include_str!("../../rules/filesystem.yaml"),
    ),
    ("jailbreak.yaml", include_str!("../../rules/jailbreak.yaml")),
    ("network.yaml", include_str!("../../rules/network.yaml")),
    ("privilege.yaml", include_str!("../../rules/privilege.yaml")),
];

/// Which flow of messages a rule inspects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleDirection {
    /// Agent to server: requests and notifications the agent sends, responses to server requests.
    #[default]
    Request,
    /// Server to agent: tool results, server notifications and server-initiated requests.
    Response,
    Both,
}

/// One rule as written in a pack file.
#[derive(Clone, Debug, Deserialize)]
pub struct Rule {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub severity: Severity,
    pub action: Action,
    /// Dotted paths into the message (`params.arguments.path`). With `recursive_match` (the
    /// default) they are advisory: every value and key below `params`/`result` is inspected, so
    /// renaming or nesting an argument does not bypass the rule. With `recursive_match: false`
    /// only these exact fields are inspected.
    #[serde(default)]
    pub match_fields: Vec<String>,
    pub pattern: String,
    pub message: String,
    /// Tool names (`*` wildcards allowed) the rule is limited to; absent means every message.
    #[serde(default)]
    pub match_tools: Option<Vec<String>>,
    #[serde(default)]
    pub recursive_match: Option<bool>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub direction: RuleDirection,
    #[serde(default)]
    pub examples: Examples,
    /// What is compiled instead of `pattern` when loading rewrote its Unicode word boundaries
    /// to ASCII ones (see [`crate::inspect::word_boundary`]); `pattern` stays as written, for
    /// display.
    #[serde(skip)]
    pub ascii_pattern: Option<String>,
}

/// Inputs that must trigger the rule (`block`) and near misses that must not (`allow`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Examples {
    #[serde(default)]
    pub block: Vec<Example>,
    #[serde(default)]
    pub allow: Vec<Example>,
}

/// An example input.
///
/// - a string: one argument value (`{"input": "<string>"}`) of a `tools/call` to the first
///   `match_tools` name (or `example_tool`); for `direction: response` rules, the text of a
///   tool result instead;
/// - `{tool, arguments}`: a `tools/call` with those arguments;
/// - `{message}`: a whole JSON-RPC message, as the agent (or for response rules, the server)
///   would send it.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Example {
    Text(String),
    Call {
        tool: String,
        arguments: serde_json::Value,
    },
    Message {
        message: serde_json::Value,
    },
}

impl Rule {
    pub fn is_recursive(&self) -> bool {
        self.recursive_match.unwrap_or(true)
    }

    /// The pattern that is compiled and matched.
    pub fn effective_pattern(&self) -> &str {
        self.ascii_pattern.as_deref().unwrap_or(&self.pattern)
    }

    /// Whether loading rewrote this rule's word boundaries.
    pub fn word_boundaries_rewritten(&self) -> bool {
        self.ascii_pattern.is_some()
    }
}

/// A loaded rule and the pack it came from, for error messages and `rules list`.
#[derive(Clone, Debug)]
pub struct LoadedRule {
    pub rule: Rule,
    pub source: PathBuf,
}

/// Why a pack could not be loaded. Every variant names the file; rule-level errors name the rule.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// The directory or file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a YAML list of rules.
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// A rule's pattern does not compile.
    #[error("{path}: rule {id}: pattern does not compile: {reason}")]
    Pattern {
        path: PathBuf,
        id: String,
        reason: String,
    },
    /// A rule is structurally wrong (empty id, bad tool glob, ...).
    #[error("{path}: rule {id}: {reason}")]
    Invalid {
        path: PathBuf,
        id: String,
        reason: String,
    },
    /// Two rules share an id, so block replies would be ambiguous.
    #[error("{path}: rule {id}: duplicate id (first defined in {first})")]
    Duplicate {
        path: PathBuf,
        id: String,
        first: PathBuf,
    },
    /// No rules at all: refusing to run a security proxy that checks nothing.
    #[error("{path}: no rule packs (*.yaml, *.yml) found")]
    Empty { path: PathBuf },
}

/// Parses one pack's text. `path` only labels errors.
pub fn parse_pack(path: &Path, text: &str) -> Result<Vec<LoadedRule>, RuleError> {
    let rules: Vec<Rule> = serde_norway::from_str(text).map_err(|e| RuleError::Parse {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let mut loaded = Vec::with_capacity(rules.len());
    let mut rewritten = Vec::new();
    for mut rule in rules {
        if rule.id.trim().is_empty() {
            return Err(RuleError::Invalid {
                path: path.to_owned(),
                id: "(empty)".into(),
                reason: "rule id is empty".into(),
            });
        }
        if !rule.is_recursive() && rule.match_fields.is_empty() {
            return Err(RuleError::Invalid {
                path: path.to_owned(),
                id: rule.id,
                reason: "recursive_match: false needs match_fields".into(),
            });
        }
        rule.ascii_pattern = word_boundary::ascii_word_boundaries(&rule.pattern);
        if rule.ascii_pattern.is_some() {
            rewritten.push(rule.id.clone());
        }
        loaded.push(LoadedRule {
            rule,
            source: path.to_owned(),
        });
    }
    if !rewritten.is_empty() {
        tracing::warn!(
            pack = %path.display(),
            rules = %rewritten.join(", "),
            "rule pack: plain \\b/\\B rewritten to ASCII word boundaries (?-u:\\b); a Unicode \\b \
             makes every non-ASCII value fall back to the slow PikeVM (a 64 KiB value took \
             seconds). Word characters are now ASCII only: a word character next to a \
             non-ASCII letter counts as a boundary"
        );
    }
    Ok(loaded)
}

/// The packs compiled into the binary.
pub fn embedded() -> Result<Vec<LoadedRule>, RuleError> {
    let mut all = Vec::new();
    for (name, text) in EMBEDDED_PACKS {
        let path = Path::new("embedded:rules").join(name);
        all.extend(parse_pack(&path, text)?);
    }
    if all.is_empty() {
        return Err(RuleError::Empty {
            path: "embedded:rules".into(),
        });
    }
    check_unique(&all)?;
    Ok(all)
}

/// Every `*.yaml`/`*.yml` pack in `dir`, in file-name order so rule order is reproducible.
/// A single file may be given instead of a directory.
pub fn load_dir(dir: &Path) -> Result<Vec<LoadedRule>, RuleError> {
    let io = |source| RuleError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    if dir.is_file() {
        files.push(dir.to_owned());
    } else {
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            let is_pack = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
            if is_pack && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
    }
    if files.is_empty() {
        return Err(RuleError::Empty {
            path: dir.to_owned(),
        });
    }
    let mut all = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|source| RuleError::Io {
            path: path.clone(),
            source,
        })?;
        all.extend(parse_pack(&path, &text)?);
    }
    check_unique(&all)?;
    Ok(all)
}

/// A digest of the effective policy: every field that changes a decision, of every rule, in
/// order. Recorded at start-up so the ledger shows which rules judged each message.
pub fn digest(rules: &[LoadedRule]) -> String {
    let mut h = blake3::Hasher::new();
    for r in rules {
        let r = &r.rule;
        let fields = serde_json::json!([
            r.id,
            r.effective_pattern(),
            r.action,
            r.severity,
            format!("{:?}", r.direction),
            r.match_tools,
            r.match_fields,
            r.is_recursive(),
            r.message
        ]);
        h.update(fields.to_string().as_bytes());
        h.update(b"\n");
    }
    h.finalize().to_hex().to_string()
}

fn check_unique(rules: &[LoadedRule]) -> Result<(), RuleError> {
    let mut seen = std::collections::HashMap::new();
    for r in rules {
        if let Some(first) = seen.insert(r.rule.id.as_str(), &r.source) {
            return Err(RuleError::Duplicate {
                path: r.source.clone(),
                id: r.rule.id.clone(),
                first: first.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACK: &str = r#"
- {id: U-1, severity: HIGH, action: BLOCK, pattern: '\bnc\s+-e\b', message: x}
- {id: A-1, severity: HIGH, action: BLOCK, pattern: '(?-u:\b)nc(?-u:\b)', message: x}
- {id: P-1, severity: HIGH, action: BLOCK, pattern: 'C:\\bin', message: x}
"#;

    #[test]
    fn loading_rewrites_only_unicode_word_boundaries_and_keeps_the_original() {
        let rules = parse_pack(Path::new("p.yaml"), PACK).expect("parses");
        let u = &rules[0].rule;
        assert_eq!(u.pattern, r"\bnc\s+-e\b");
        assert_eq!(u.effective_pattern(), r"(?-u:\b)nc\s+-e(?-u:\b)");
        assert!(u.word_boundaries_rewritten());
        for r in &rules[1..] {
            assert!(!r.rule.word_boundaries_rewritten(), "{}", r.rule.id);
            assert_eq!(r.rule.effective_pattern(), r.rule.pattern);
        }
    }

    #[test]
    fn the_policy_digest_covers_the_rewritten_pattern() {
        let rules = parse_pack(Path::new("p.yaml"), PACK).expect("parses");
        let mut unrewritten = rules.clone();
        unrewritten[0].rule.ascii_pattern = None;
        assert_ne!(digest(&rules), digest(&unrewritten));
    }

    #[test]
    fn built_in_packs_need_no_rewrite() {
        for r in embedded().expect("built-in packs load") {
            assert!(!r.rule.word_boundaries_rewritten(), "{}", r.rule.id);
        }
    }
}

//! The decision for one message, composed from every layer that looked at it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What happens to a message. Ordered by strength, so the strongest action wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Forwarded; a matching ALLOW rule is recorded but changes nothing.
    #[serde(alias = "ALLOW", alias = "Allow")]
    Allow,
    /// Forwarded, and logged at warn level.
    #[serde(alias = "WARN", alias = "Warn")]
    Warn,
    /// Not forwarded; the sender gets a JSON-RPC error.
    #[serde(alias = "BLOCK", alias = "Block")]
    Block,
}

/// How bad a match is. Ties between blocking rules go to the most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[serde(alias = "LOW", alias = "Low", alias = "INFO", alias = "info")]
    Low,
    #[serde(alias = "MEDIUM", alias = "Medium")]
    Medium,
    #[serde(alias = "HIGH", alias = "High")]
    High,
    #[serde(alias = "CRITICAL", alias = "Critical")]
    Critical,
}

/// The inspection layer that produced a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Layer {
    /// Normalisation and structural limits.
    L0,
    /// Signature rules.
    L1,
    /// Intent scoring (semantic).
    L2,
    /// Behavioural windows.
    L3,
}

/// One rule (or limit) that matched a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: String,
    pub layer: Layer,
    pub action: Action,
    pub severity: Severity,
    pub message: String,
}

/// The composed decision. `decisive` is the finding that set `action`; every other finding is
/// kept so the record shows all that matched, not just the winner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub findings: Vec<Finding>,
}

impl Verdict {
    pub fn allow() -> Self {
        Self::default()
    }

    /// A verdict with a single finding, for limits and failures that decide on their own.
    pub fn single(finding: Finding) -> Self {
        Self {
            findings: vec![finding],
        }
    }

    /// The finding that decides: the strongest action, then the highest severity, then the
    /// first in rule order. Findings are kept in rule order, so `max_by` must prefer earlier
    /// elements on ties.
    pub fn decisive(&self) -> Option<&Finding> {
        self.findings.iter().reduce(|best, f| {
            if (f.action, f.severity) > (best.action, best.severity) {
                f
            } else {
                best
            }
        })
    }

    pub fn action(&self) -> Action {
        self.decisive().map_or(Action::Allow, |f| f.action)
    }

    pub fn is_block(&self) -> bool {
        self.action() == Action::Block
    }

    /// Rule ids of every finding, in the order they were found.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.findings.iter().map(|f| f.rule.as_str())
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Allow => "allow",
            Action::Warn => "warn",
            Action::Block => "block",
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(rule: &str, action: Action, severity: Severity) -> Finding {
        Finding {
            rule: rule.into(),
            layer: Layer::L1,
            action,
            severity,
            message: String::new(),
        }
    }

    #[test]
    fn block_beats_a_more_severe_warning() {
        let v = Verdict {
            findings: vec![
                finding("w", Action::Warn, Severity::Critical),
                finding("b", Action::Block, Severity::Low),
            ],
        };
        assert_eq!(v.decisive().map(|f| f.rule.as_str()), Some("b"));
        assert!(v.is_block());
    }

    #[test]
    fn ties_go_to_the_first_rule_in_order() {
        let v = Verdict {
            findings: vec![
                finding("first", Action::Block, Severity::High),
                finding("second", Action::Block, Severity::High),
            ],
        };
        assert_eq!(v.decisive().map(|f| f.rule.as_str()), Some("first"));
    }

    #[test]
    fn no_findings_allows() {
        assert_eq!(Verdict::allow().action(), Action::Allow);
        assert!(Verdict::allow().decisive().is_none());
    }
}

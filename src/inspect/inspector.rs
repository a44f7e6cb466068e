//! Composes L0 and L1 into one verdict per message.

use crate::inspect::limits;
use crate::inspect::matcher::Matcher;
use crate::inspect::message::{Direction, Message, ParseError};
use crate::inspect::rules::{LoadedRule, RuleError};
use crate::inspect::verdict::{Action, Finding, Layer, Severity, Verdict};

/// Rule id reported when a message nests deeper than allowed.
pub const RULE_DEPTH: &str = "L0-DEPTH";

/// Limits applied before rules run.
#[derive(Clone, Debug)]
pub struct InspectorConfig {
    /// Deepest array/object nesting accepted. MCP messages nest a handful of levels; deep
    /// nesting only serves to exhaust parsers and walkers.
    pub max_depth: usize,
}

impl Default for InspectorConfig {
    fn default() -> Self {
        Self { max_depth: 64 }
    }
}

/// The result of inspecting one wire line.
#[derive(Debug)]
pub struct Inspection {
    /// The parsed message, or why the line is not one.
    pub message: Result<Message, ParseError>,
    pub verdict: Verdict,
}

/// The synchronous inspection pipeline shared by every transport.
#[derive(Debug)]
pub struct Inspector {
    matcher: Matcher,
    config: InspectorConfig,
}

impl Inspector {
    pub fn new(rules: Vec<LoadedRule>, config: InspectorConfig) -> Result<Self, RuleError> {
        Ok(Self {
            matcher: Matcher::new(rules)?,
            config,
        })
    }

    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// Parses and inspects one line. A line that does not parse gets an allow verdict here:
    /// it is never forwarded, and the caller answers it with the parse error instead.
    pub fn inspect_line(&self, direction: Direction, line: &[u8]) -> Inspection {
        self.inspect_line_with(direction, line, |_| {})
    }

    /// [`Inspector::inspect_line`], letting the caller complete the parsed message before the
    /// rules run: a response learns the method and tool of the request it answers, so
    /// `match_tools` rules apply to it in the one pass.
    pub fn inspect_line_with(
        &self,
        direction: Direction,
        line: &[u8],
        complete: impl FnOnce(&mut Message),
    ) -> Inspection {
        let depth = limits::nesting_depth(line);
        let mut message = Message::parse(direction, line);
        if let Ok(m) = &mut message {
            complete(m);
        }
        if depth > self.config.max_depth {
            let verdict = Verdict::single(Finding {
                rule: RULE_DEPTH.into(),
                layer: Layer::L0,
                action: Action::Block,
                severity: Severity::High,
                message: format!(
                    "message nests {depth} levels deep, above the limit of {}",
                    self.config.max_depth
                ),
            });
            return Inspection { message, verdict };
        }
        let verdict = match &message {
            Ok(m) => self.inspect(m),
            Err(_) => Verdict::allow(),
        };
        Inspection { message, verdict }
    }

    /// L1 over an already parsed message.
    pub fn inspect(&self, message: &Message) -> Verdict {
        Verdict {
            findings: self.matcher.findings(message),
        }
    }
}

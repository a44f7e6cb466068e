//! Running each rule's own examples through the real inspection pipeline
//! (`vanguard rules test` and the test suite).

use crate::inspect::message::{Direction, Message};
use crate::inspect::rules::{Example, RuleDirection};
use crate::inspect::Inspector;
use serde_json::{json, Value};

/// Tool name used for plain-text examples of rules without `match_tools`.
pub const EXAMPLE_TOOL: &str = "example_tool";

/// One example that did not behave as its rule says.
#[derive(Debug)]
pub struct ExampleFailure {
    pub rule: String,
    pub source: String,
    /// `block` or `allow`: which list the example came from.
    pub expected: &'static str,
    pub example: String,
    /// Every rule that matched the example.
    pub matched: Vec<String>,
}

/// The outcome of running every example.
#[derive(Debug, Default)]
pub struct ExampleReport {
    pub rules: usize,
    pub checked: usize,
    pub rules_without_block_examples: Vec<String>,
    pub failures: Vec<ExampleFailure>,
}

impl ExampleReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs every rule's examples: a `block` example must be matched by its rule, an `allow`
/// example must not be. Other rules may match either; that is the corpus tests' business.
pub fn run(inspector: &Inspector) -> ExampleReport {
    let mut report = ExampleReport::default();
    for compiled in inspector.matcher().rules() {
        let rule = &compiled.rule;
        report.rules += 1;
        if rule.examples.block.is_empty() {
            report.rules_without_block_examples.push(rule.id.clone());
        }
        let tool = rule
            .match_tools
            .as_ref()
            .and_then(|t| t.first())
            .map_or(EXAMPLE_TOOL.to_owned(), |g| g.replace('*', "x"));
        let cases = rule
            .examples
            .block
            .iter()
            .map(|e| ("block", e))
            .chain(rule.examples.allow.iter().map(|e| ("allow", e)));
        for (expected, example) in cases {
            report.checked += 1;
            let message = example_message(example, rule.direction, &tool);
            let matched: Vec<String> = inspector
                .inspect(&message)
                .findings
                .into_iter()
                .map(|f| f.rule)
                .collect();
            let hit = matched.iter().any(|id| id == &rule.id);
            if hit != (expected == "block") {
                report.failures.push(ExampleFailure {
                    rule: rule.id.clone(),
                    source: compiled.source.display().to_string(),
                    expected,
                    example: describe(example),
                    matched,
                });
            }
        }
    }
    report
}

/// Builds the message an example stands for (see [`Example`]).
pub fn example_message(example: &Example, direction: RuleDirection, tool: &str) -> Message {
    let from_server = direction == RuleDirection::Response;
    let (direction, body) = match example {
        Example::Text(text) if from_server => (
            Direction::ServerToAgent,
            json!({"jsonrpc": "2.0", "id": 1,
                   "result": {"content": [{"type": "text", "text": text}]}}),
        ),
        Example::Text(text) => (
            Direction::AgentToServer,
            call(tool, json!({ "input": text })),
        ),
        Example::Call { tool, arguments } => {
            (Direction::AgentToServer, call(tool, arguments.clone()))
        }
        Example::Message { message } if from_server => (Direction::ServerToAgent, message.clone()),
        Example::Message { message } => (Direction::AgentToServer, message.clone()),
    };
    let tool = tool.to_owned();
    Message::classify(direction, body).unwrap_or(Message {
        // A malformed example message still gets inspected as a request, so its author sees
        // the rule fail instead of the example vanishing.
        direction,
        kind: crate::inspect::MessageKind::Request,
        id: None,
        method: None,
        tool: Some(tool),
        body: Value::Null,
    })
}

fn call(tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
}

fn describe(example: &Example) -> String {
    match example {
        Example::Text(t) => format!("{t:?}"),
        Example::Call { tool, arguments } => format!("{tool} {arguments}"),
        Example::Message { message } => message.to_string(),
    }
}

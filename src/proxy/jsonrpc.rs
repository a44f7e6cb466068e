//! JSON-RPC error replies. Every refusal the proxy sends is built here, so the wire shape of a
//! decision is defined once.

use crate::inspect::verdict::Verdict;
use serde_json::{json, Value};

/// Invalid JSON was received.
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// Vanguard refused the message; `data` names the rule.
pub const BLOCKED: i64 = -32001;
/// The ledger could not record the message, so it was not forwarded (fail closed).
pub const LEDGER_UNAVAILABLE: i64 = -32002;

/// One error reply line (without the trailing newline).
pub fn error_line(id: &Value, code: i64, message: &str, data: Option<Value>) -> Vec<u8> {
    let mut error = json!({ "code": code, "message": message });
    if let Some(data) = data {
        error["data"] = data;
    }
    let reply = json!({ "jsonrpc": "2.0", "id": id, "error": error });
    // Serialising a `Value` built from strings and integers cannot fail.
    serde_json::to_vec(&reply).unwrap_or_default()
}

/// The reply to a blocked message: code `-32001`, the decisive rule's message, and `data`
/// naming the rule, its layer and severity, every rule that matched, and the ledger entry that
/// records the decision (for fetching a receipt). Policy internals (patterns, views) are never
/// included.
pub fn block_line(id: &Value, verdict: &Verdict, ledger_index: Option<u64>) -> Vec<u8> {
    let Some(decisive) = verdict.decisive() else {
        return error_line(id, BLOCKED, "Vanguard blocked: no reason recorded", None);
    };
    let data = json!({
        "rule": decisive.rule,
        "layer": decisive.layer,
        "severity": decisive.severity,
        "rules": verdict.rule_ids().collect::<Vec<_>>(),
        "ledger_index": ledger_index,
    });
    let message = format!("Vanguard blocked: {}", decisive.message);
    error_line(id, BLOCKED, &message, Some(data))
}

/// The error message for its sender when a line is longer than the configured limit. It
/// answers the message's own id when that could be read from the ends of the line, else `null`.
pub fn oversize_message(len: u64, limit: usize) -> String {
    format!(
        "invalid request: message of {len} bytes exceeds the limit of {limit} bytes (--max-message-bytes)"
    )
}

/// The error message for a peer waiting on a response that was too large to forward. It takes
/// the place of that response, with the id of the request it answered when that could be told.
pub fn oversize_response_message(len: u64, limit: usize) -> String {
    format!(
        "response too large: {len} bytes exceeds the limit of {limit} bytes (--max-message-bytes); Vanguard did not forward it"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::verdict::{Action, Finding, Layer, Severity};

    #[test]
    fn block_reply_names_the_decisive_rule() {
        let verdict = Verdict {
            findings: vec![
                Finding {
                    rule: "W-1".into(),
                    layer: Layer::L1,
                    action: Action::Warn,
                    severity: Severity::Low,
                    message: "just a warning".into(),
                },
                Finding {
                    rule: "FS-003".into(),
                    layer: Layer::L1,
                    action: Action::Block,
                    severity: Severity::High,
                    message: "Directory traversal".into(),
                },
            ],
        };
        let line = block_line(&json!(7), &verdict, Some(12));
        let reply: Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(reply["id"], 7);
        assert_eq!(reply["error"]["code"], BLOCKED);
        assert_eq!(
            reply["error"]["message"],
            "Vanguard blocked: Directory traversal"
        );
        assert_eq!(reply["error"]["data"]["rule"], "FS-003");
        assert_eq!(reply["error"]["data"]["layer"], "L1");
        assert_eq!(reply["error"]["data"]["severity"], "high");
        assert_eq!(reply["error"]["data"]["rules"], json!(["W-1", "FS-003"]));
        assert_eq!(reply["error"]["data"]["ledger_index"], 12);
    }
}

//! One JSON-RPC message as inspection sees it: which way it flows, what kind it is, and the
//! parsed body. The wire bytes stay with the caller; this is only the parsed view.

use serde_json::Value;

/// Which way a message flows through the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    AgentToServer,
    ServerToAgent,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::AgentToServer => "agent_to_server",
            Direction::ServerToAgent => "server_to_agent",
        }
    }
}

/// The JSON-RPC 2.0 message kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// Has `method` and `id`: expects an answer.
    Request,
    /// Has `method`, no `id`.
    Notification,
    /// Has `id` and `result`.
    Response,
    /// Has `id` and `error`.
    Error,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Request => "request",
            MessageKind::Notification => "notification",
            MessageKind::Response => "response",
            MessageKind::Error => "error",
        }
    }
}

/// Why a line is not a JSON-RPC message we can inspect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not JSON at all (JSON-RPC `-32700`).
    #[error("parse error: {0}")]
    Json(#[from] serde_json::Error),
    /// A JSON array: batches were removed from MCP in protocol version 2025-06-18, and
    /// inspecting them element-wise would let one element's verdict leak into another's.
    #[error("invalid request: JSON-RPC batches are not supported")]
    Batch,
    /// JSON, but not a JSON-RPC 2.0 message (`-32600`). `id` is kept when it could be read,
    /// so the error reply can still be matched by the sender.
    #[error("invalid request: {reason}")]
    Invalid { reason: &'static str, id: Value },
}

impl ParseError {
    /// The id to answer with: the message's own when it was readable, else `null`.
    pub fn reply_id(&self) -> Value {
        match self {
            ParseError::Invalid { id, .. } => id.clone(),
            _ => Value::Null,
        }
    }

    /// The JSON-RPC error code for this failure.
    pub fn code(&self) -> i64 {
        match self {
            ParseError::Json(_) => crate::proxy::jsonrpc::PARSE_ERROR,
            _ => crate::proxy::jsonrpc::INVALID_REQUEST,
        }
    }
}

/// A parsed, classified JSON-RPC message.
#[derive(Clone, Debug)]
pub struct Message {
    pub direction: Direction,
    pub kind: MessageKind,
    /// The JSON-RPC id for requests and responses.
    pub id: Option<Value>,
    /// The method; for responses, the method of the request they answer when the session
    /// knows it.
    pub method: Option<String>,
    /// The tool name of a `tools/call` (or of the call a response answers).
    pub tool: Option<String>,
    pub body: Value,
}

impl Message {
    /// Parses and classifies one line.
    ///
    /// Checks, in order: valid JSON; not an array; an object; `"jsonrpc": "2.0"`; a string
    /// `method` or an `id` with exactly one of `result`/`error`; an id that is a string or an
    /// integer (MCP forbids `null` ids on requests).
    pub fn parse(direction: Direction, bytes: &[u8]) -> Result<Message, ParseError> {
        let body: Value = serde_json::from_slice(bytes)?;
        Self::classify(direction, body)
    }

    pub fn classify(direction: Direction, body: Value) -> Result<Message, ParseError> {
        let obj = match &body {
            Value::Object(obj) => obj,
            Value::Array(_) => return Err(ParseError::Batch),
            _ => {
                return Err(ParseError::Invalid {
                    reason: "a JSON-RPC message must be a JSON object",
                    id: Value::Null,
                })
            }
        };
        let id = obj.get("id").cloned();
        let reply_id = id.clone().unwrap_or(Value::Null);
        let invalid = |reason| ParseError::Invalid {
            reason,
            id: reply_id.clone(),
        };
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(invalid("\"jsonrpc\" must be \"2.0\""));
        }
        if let Some(id) = &id {
            let valid_id = id.is_string() || id.is_i64() || id.is_u64();
            if !valid_id {
                return Err(ParseError::Invalid {
                    reason: "\"id\" must be a string or an integer",
                    id: Value::Null,
                });
            }
        }
        let kind = match (obj.get("method"), &id) {
            (Some(Value::String(_)), Some(_)) => MessageKind::Request,
            (Some(Value::String(_)), None) => MessageKind::Notification,
            (Some(_), _) => return Err(invalid("\"method\" must be a string")),
            (None, Some(_)) => match (obj.contains_key("result"), obj.contains_key("error")) {
                (true, false) => MessageKind::Response,
                (false, true) => MessageKind::Error,
                _ => {
                    return Err(invalid(
                        "a response needs exactly one of \"result\" or \"error\"",
                    ))
                }
            },
            (None, None) => {
                return Err(invalid("neither a request, a notification nor a response"))
            }
        };
        let method = obj.get("method").and_then(Value::as_str).map(str::to_owned);
        let tool = match method.as_deref() {
            Some("tools/call") => obj
                .get("params")
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        };
        Ok(Message {
            direction,
            kind,
            id,
            method,
            tool,
            body,
        })
    }

    /// The part of the message that carries content: `params` for requests and notifications,
    /// `result` or `error` for responses.
    pub fn content(&self) -> Option<&Value> {
        let key = match self.kind {
            MessageKind::Request | MessageKind::Notification => "params",
            MessageKind::Response => "result",
            MessageKind::Error => "error",
        };
        self.body.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Message, ParseError> {
        Message::parse(Direction::AgentToServer, line.as_bytes())
    }

    #[test]
    fn classifies_the_four_kinds() {
        let req =
            parse(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#);
        let req = req.expect("request");
        assert_eq!(req.kind, MessageKind::Request);
        assert_eq!(req.tool.as_deref(), Some("echo"));
        let note = parse(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert_eq!(note.expect("notification").kind, MessageKind::Notification);
        let resp = parse(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#);
        assert_eq!(resp.expect("response").kind, MessageKind::Response);
        let err = parse(r#"{"jsonrpc":"2.0","id":2,"error":{"code":1,"message":"x"}}"#);
        assert_eq!(err.expect("error").kind, MessageKind::Error);
    }

    #[test]
    fn rejects_what_is_not_json_rpc() {
        assert!(matches!(parse("{nope"), Err(ParseError::Json(_))));
        assert!(matches!(parse("[]"), Err(ParseError::Batch)));
        assert!(matches!(parse("42"), Err(ParseError::Invalid { .. })));
        let no_version = parse(r#"{"id":7,"method":"ping"}"#);
        match no_version {
            Err(e @ ParseError::Invalid { .. }) => assert_eq!(e.reply_id(), Value::from(7)),
            other => panic!("expected invalid, got {other:?}"),
        }
        assert!(parse(r#"{"jsonrpc":"2.0","id":1}"#).is_err());
        assert!(parse(r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#).is_err());
        assert!(parse(r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#).is_err());
        assert!(parse(r#"{"jsonrpc":"2.0","method":3}"#).is_err());
    }
}

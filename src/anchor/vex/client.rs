//! HTTP client for the VEX API (the subset Vanguard uses; `docs/vex.md` states the contract).
//!
//! ```text
//! POST /api/v1/agents                {name, role, max_depth, spawn_shadow} -> {id, ...}
//! POST /api/v1/agents/{id}/execute   {prompt, context_id, ...}  + Idempotency-Key
//!                                    -> {agent_id, response: "Job queued: <uuid>", witness_receipt, ...}
//! GET  /api/v1/jobs/{id}             -> {job_id, status, result, error, attempts, ...}
//! GET  /api/v1/jobs/{id}/stream      -> text/event-stream of `data: {job_id, status, result, error}`
//! ```
//! Every call carries `Authorization: Bearer <VANGUARD_VEX_KEY>`.

use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// Longest wait for one non-streaming call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence on a job stream (VEX sends keep-alive comments well within this).
const READ_TIMEOUT: Duration = Duration::from_secs(90);
/// Longest `Retry-After` honoured; a larger value is clamped so one answer cannot park
/// delivery for days.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Most of an error body kept for messages.
const MAX_BODY_TEXT: usize = 512;
/// Most bytes buffered for one server-sent event.
const MAX_EVENT_BYTES: usize = 1 << 20;

/// Why a VEX call failed, and so what delivery does next ([`VexError::class`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VexError {
    /// No answer: connection refused or reset, timeout, DNS.
    #[error("VEX unreachable: {0}")]
    Network(String),
    /// An HTTP error status.
    #[error("VEX answered HTTP {status}: {body}")]
    Status {
        status: u16,
        body: String,
        /// The server's `Retry-After`, when it gave one in seconds.
        retry_after: Option<Duration>,
    },
    /// A success status with a body that does not follow the contract.
    #[error("VEX answer not understood: {0}")]
    Protocol(String),
    /// The server does not know this job (`404`, or `job_not_found` on its stream).
    #[error("VEX does not know job {job_id}")]
    JobNotFound { job_id: String },
}

/// What to do after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Try again after the backoff (or the given `Retry-After`).
    Retry(Option<Duration>),
    /// The request itself was refused (400, 413, 422): sending it again cannot help.
    Rejected,
    /// Credentials or configuration (401, 403, 404 agent): retry slowly, the operator must act.
    Config,
}

impl VexError {
    pub fn class(&self) -> Class {
        match self {
            VexError::Network(_) | VexError::Protocol(_) => Class::Retry(None),
            VexError::Status {
                status,
                retry_after,
                ..
            } => match status {
                408 | 425 | 429 | 500..=599 => Class::Retry(*retry_after),
                400 | 413 | 415 | 422 => Class::Rejected,
                _ => Class::Config,
            },
            VexError::JobNotFound { .. } => Class::Config,
        }
    }
}

impl From<reqwest::Error> for VexError {
    fn from(e: reqwest::Error) -> Self {
        let mut text = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        VexError::Network(text)
    }
}

/// The answer to an execute call.
#[derive(Clone, Debug, PartialEq)]
pub struct Executed {
    /// The job id from `Job queued: <uuid>`; `None` if VEX answered without queueing (a
    /// governance halt), which is then the final answer.
    pub job_id: Option<String>,
    /// VEX's `response` text.
    pub response: String,
    pub witness_receipt: Option<String>,
    pub context_hash: Option<String>,
}

/// A job's state, from `GET /api/v1/jobs/{id}` or one stream event.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct JobState {
    pub status: String,
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub attempts: Option<u64>,
}

impl JobState {
    /// Whether VEX will not change this job any more.
    pub fn is_final(&self) -> bool {
        matches!(
            self.status.as_str(),
            "completed" | "failed" | "dead_letter" | "halted" | "success" | "cancelled"
        )
    }
}

/// A VEX API endpoint with its credentials.
#[derive(Clone)]
pub struct VexClient {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

impl std::fmt::Debug for VexClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the bearer token.
        f.debug_struct("VexClient")
            .field("base", &self.base)
            .finish()
    }
}

impl VexClient {
    /// `base` is the server's URL (`https://vex.example`); a trailing `/api/v1` (as
    /// McpVanguard's examples write it) is accepted too.
    pub fn new(base: &str, key: Option<String>) -> Result<Self, VexError> {
        let base = base.trim_end_matches('/');
        let base = base.strip_suffix("/api/v1").unwrap_or(base).to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(VexError::Protocol(format!(
                "VANGUARD_VEX_URL must be an http:// or https:// URL, got {base:?}"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("vanguard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, base, key })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::ACCEPT, "application/json");
        match &self.key {
            Some(k) => r.bearer_auth(k),
            None => r,
        }
    }

    /// Creates the agent Vanguard reports through, with the least it needs: an auditor role
    /// that may not spawn sub-agents (`max_depth` 0) or shadows. Returns its id.
    pub async fn create_agent(&self, name: &str) -> Result<String, VexError> {
        let body = serde_json::json!({
            "name": name,
            "role": "auditor",
            "max_depth": 0,
            "spawn_shadow": false,
        });
        let r = self
            .request(reqwest::Method::POST, "/api/v1/agents")
            .timeout(CALL_TIMEOUT)
            .json(&body)
            .send()
            .await?;
        let v: Value = json_of(r).await?;
        match v.get("id").or_else(|| v.get("agent_id")) {
            Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
            _ => Err(VexError::Protocol(format!(
                "agent creation answered without an id: {}",
                clip(&v.to_string())
            ))),
        }
    }

    /// Submits one report. `idempotency_key` goes in the `Idempotency-Key` header and as the
    /// job's `context_id`, so a repeated submission can be recognised (see `docs/vex.md`).
    pub async fn execute(
        &self,
        agent_id: &str,
        prompt: &str,
        idempotency_key: &str,
    ) -> Result<Executed, VexError> {
        let body = serde_json::json!({
            "prompt": prompt,
            "context_id": idempotency_key,
            "enable_adversarial": false,
            "enable_self_correction": false,
            "max_debate_rounds": 1,
        });
        let path = format!("/api/v1/agents/{}/execute", path_segment(agent_id)?);
        let r = self
            .request(reqwest::Method::POST, &path)
            .timeout(CALL_TIMEOUT)
            .header("Idempotency-Key", idempotency_key)
            .json(&body)
            .send()
            .await?;
        let v: Value = json_of(r).await?;
        let response = match v.get("response") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(VexError::Protocol(format!(
                    "execute answered without a response text: {}",
                    clip(&v.to_string())
                )))
            }
        };
        let job_id = match response.strip_prefix("Job queued: ") {
            Some(id) => {
                let id = id.trim();
                if !is_uuid(id) {
                    return Err(VexError::Protocol(format!(
                        "execute queued a job whose id is not a UUID: {}",
                        clip(id)
                    )));
                }
                Some(id.to_owned())
            }
            None => None,
        };
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(Executed {
            job_id,
            response,
            witness_receipt: text("witness_receipt"),
            context_hash: text("context_hash"),
        })
    }

    /// The job's current state.
    pub async fn job(&self, job_id: &str) -> Result<JobState, VexError> {
        let path = format!("/api/v1/jobs/{}", path_segment(job_id)?);
        let r = self
            .request(reqwest::Method::GET, &path)
            .timeout(CALL_TIMEOUT)
            .send()
            .await?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(VexError::JobNotFound {
                job_id: job_id.to_owned(),
            });
        }
        let v: Value = json_of(r).await?;
        serde_json::from_value(v.clone())
            .map_err(|e| VexError::Protocol(format!("job status {e}: {}", clip(&v.to_string()))))
    }

    /// Follows the job's event stream until it reports a final state. `Ok(None)` if the
    /// stream ended first (the caller asks again).
    pub async fn follow(&self, job_id: &str) -> Result<Option<JobState>, VexError> {
        let path = format!("/api/v1/jobs/{}/stream", path_segment(job_id)?);
        let mut r = self
            .request(reqwest::Method::GET, &path)
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .send()
            .await?;
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(VexError::JobNotFound {
                job_id: job_id.to_owned(),
            });
        }
        if !r.status().is_success() {
            return Err(status_error(r).await);
        }
        let mut events = SseParser::default();
        while let Some(chunk) = r.chunk().await? {
            for data in events.push(&chunk)? {
                match data.trim() {
                    "[DONE]" => return Ok(None),
                    "job_not_found" => {
                        return Err(VexError::JobNotFound {
                            job_id: job_id.to_owned(),
                        })
                    }
                    text => {
                        let state: JobState = serde_json::from_str(text).map_err(|e| {
                            VexError::Protocol(format!("stream event {e}: {}", clip(text)))
                        })?;
                        if state.is_final() {
                            return Ok(Some(state));
                        }
                    }
                }
            }
        }
        Ok(None)
    }
}

/// The body of a success answer as JSON, or the error the status stands for.
async fn json_of(r: reqwest::Response) -> Result<Value, VexError> {
    if !r.status().is_success() {
        return Err(status_error(r).await);
    }
    let bytes = r.bytes().await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| VexError::Protocol(format!("{e}: {}", clip(&String::from_utf8_lossy(&bytes)))))
}

async fn status_error(r: reqwest::Response) -> VexError {
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let body = r.text().await.unwrap_or_default();
    VexError::Status {
        status,
        body: clip(body.trim()),
        retry_after,
    }
}

/// `Retry-After` in delta-seconds (RFC 9110 section 10.2.3), clamped to [`MAX_RETRY_AFTER`].
/// The HTTP-date form is not used by VEX; it falls back to the ordinary backoff.
pub fn parse_retry_after(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = text.parse().unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// An id placed in a URL path must be one plain segment.
fn path_segment(id: &str) -> Result<&str, VexError> {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(id)
    } else {
        Err(VexError::Protocol(format!(
            "id {:?} is not a plain URL segment",
            clip(id)
        )))
    }
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_BODY_TEXT) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// Splits a `text/event-stream` body into event data (WHATWG HTML "server-sent events":
/// `data:` lines joined by newlines, dispatched at a blank line; comments and other fields
/// ignored).
#[derive(Default)]
struct SseParser {
    line: Vec<u8>,
    data: Option<String>,
}

impl SseParser {
    fn push(&mut self, bytes: &[u8]) -> Result<Vec<String>, VexError> {
        let mut out = Vec::new();
        for &b in bytes {
            if b != b'\n' {
                self.line.push(b);
                if self.line.len() > MAX_EVENT_BYTES {
                    return Err(VexError::Protocol("stream event too large".into()));
                }
                continue;
            }
            if self.line.last() == Some(&b'\r') {
                self.line.pop();
            }
            let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
            if line.is_empty() {
                if let Some(d) = self.data.take() {
                    out.push(d);
                }
            } else if let Some(rest) = line.strip_prefix("data:") {
                let rest = rest.strip_prefix(' ').unwrap_or(rest);
                match &mut self.data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(rest);
                    }
                    None => self.data = Some(rest.to_owned()),
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_split_across_chunks_and_lines() {
        let mut p = SseParser::default();
        assert!(p.push(b": keep-alive\n\nda").expect("ok").is_empty());
        assert!(p.push(b"ta: {\"a\":1}\r").expect("ok").is_empty());
        assert_eq!(p.push(b"\n\n").expect("ok"), vec!["{\"a\":1}".to_owned()]);
        assert_eq!(
            p.push(b"data:x\ndata: y\nevent: e\n\n").expect("ok"),
            vec!["x\ny".to_owned()]
        );
    }

    #[test]
    fn retry_after_takes_seconds_and_clamps() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn statuses_map_to_what_delivery_does() {
        let s = |status| VexError::Status {
            status,
            body: String::new(),
            retry_after: Some(Duration::from_secs(3)),
        };
        assert_eq!(s(429).class(), Class::Retry(Some(Duration::from_secs(3))));
        assert_eq!(s(503).class(), Class::Retry(Some(Duration::from_secs(3))));
        assert_eq!(s(422).class(), Class::Rejected);
        assert_eq!(s(401).class(), Class::Config);
        assert_eq!(s(403).class(), Class::Config);
        assert_eq!(VexError::Network("x".into()).class(), Class::Retry(None));
    }

    #[test]
    fn ids_must_be_plain_segments_and_jobs_uuids() {
        assert!(path_segment("../admin").is_err());
        assert!(path_segment("a/b").is_err());
        assert!(path_segment("").is_err());
        assert!(is_uuid("123e4567-e89b-12d3-a456-426614174000"));
        assert!(!is_uuid("123e4567-e89b-12d3-a456-42661417400"));
        assert!(!is_uuid("not-a-uuid"));
    }

    #[test]
    fn base_url_accepts_an_api_suffix_and_refuses_other_schemes() {
        let c = VexClient::new("http://127.0.0.1:9/api/v1/", None).expect("client");
        assert_eq!(c.base(), "http://127.0.0.1:9");
        assert!(VexClient::new("ftp://x", None).is_err());
    }
}

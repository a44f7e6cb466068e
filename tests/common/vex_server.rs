//! A loopback server that follows the VEX API contract Vanguard relies on (`docs/vex.md`):
//! HS256 JWT Bearer auth (bad signature, wrong issuer or expired token: 401; a role other
//! than user/admin may not create agents: 403), `POST /api/v1/agents`,
//! `POST /api/v1/agents/{id}/execute` answering `Job queued: <uuid>` and folding repeated
//! `Idempotency-Key`s into one job, `GET /api/v1/jobs/{id}` and its `/stream` SSE of
//! `data: {...}` lines.
//!
//! Switches for the tests: answer the next executes with 429 and `Retry-After`; hold jobs
//! `running`; stall executes (the job is created but the answer never sent, the crash window
//! between VEX accepting and Vanguard recording). The server can be stopped (its runtime is
//! dropped: every connection closes) and started again on the same port; its state (agents,
//! jobs, the request log) lives on.
#![allow(dead_code)]

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use bitcoin::hashes::{sha256, Hash, HashEngine, Hmac, HmacEngine};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The issuer VEX puts in and checks on its tokens.
pub const ISSUER: &str = "vex-api";

/// A signed HS256 token for `role`, expiring `expires_in` seconds from now (negative: past).
pub fn mint_token(secret: &[u8], sub: &str, role: &str, expires_in: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let header = B64URL.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims =
        json!({"sub": sub, "role": role, "iss": ISSUER, "iat": now, "exp": now + expires_in});
    let payload = B64URL.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let sig = B64URL.encode(hmac(secret, signing_input.as_bytes()));
    format!("{signing_input}.{sig}")
}

fn hmac(secret: &[u8], data: &[u8]) -> [u8; 32] {
    let mut engine = HmacEngine::<sha256::Hash>::new(secret);
    engine.input(data);
    Hmac::<sha256::Hash>::from_engine(engine).to_byte_array()
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Logged {
    pub at: Instant,
    pub method: &'static str,
    pub path: String,
    pub status: u16,
    pub idempotency_key: Option<String>,
}

/// A job the server queued.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: String,
    pub agent: String,
    pub tenant: String,
    pub idempotency_key: Option<String>,
    pub context_id: Option<String>,
    pub prompt: String,
    /// Times its final state was served by `GET /api/v1/jobs/{id}`.
    pub finals_polled: u32,
    /// Times its final state was served on its event stream.
    pub finals_streamed: u32,
}

#[derive(Default)]
pub struct Shared {
    secret: Vec<u8>,
    pub agents: HashMap<String, Value>,
    pub jobs: HashMap<String, Job>,
    by_key: HashMap<String, String>,
    pub log: Vec<Logged>,
    /// Answer this many more executes with 429.
    rate_limit: u32,
    /// Refuse this many more executes with 422, as VEX's prompt screening does.
    reject: u32,
    retry_after_secs: u64,
    /// Keep jobs `running`.
    hold: bool,
    /// Executes answered normally before the rest stall (None: never stall).
    stall_after: Option<usize>,
    answered_executes: usize,
    /// Executes that were stalled (job created, answer withheld).
    pub stalled: usize,
}

/// The server: state shared across stops and starts, and the running incarnation if any.
pub struct VexServer {
    pub shared: Arc<Mutex<Shared>>,
    pub addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl VexServer {
    /// A server on a free loopback port, not yet started.
    pub fn new(secret: &[u8]) -> VexServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        VexServer {
            shared: Arc::new(Mutex::new(Shared {
                secret: secret.to_vec(),
                retry_after_secs: 1,
                ..Shared::default()
            })),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            runtime: None,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts serving on the server's port (again, after [`VexServer::stop`]).
    pub fn start(&mut self) {
        assert!(self.runtime.is_none(), "already running");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let addr = self.addr;
        let app = router(self.shared.clone());
        let listener = runtime.block_on(async move {
            let socket = tokio::net::TcpSocket::new_v4().expect("socket");
            // The port was ours a moment ago; its closed connections may linger in TIME_WAIT.
            socket.set_reuseaddr(true).expect("reuseaddr");
            socket.bind(addr).expect("bind the VEX port again");
            socket.listen(128).expect("listen")
        });
        runtime.spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        self.runtime = Some(runtime);
    }

    /// Stops serving: the listener and every open connection (streams too) close at once.
    pub fn stop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Shared) -> R) -> R {
        f(&mut self.shared.lock().expect("state"))
    }

    /// Answers the next `n` executes with 429 and `Retry-After: secs`.
    pub fn rate_limit(&self, n: u32, secs: u64) {
        self.with(|s| {
            s.rate_limit = n;
            s.retry_after_secs = secs;
        });
    }

    /// Refuses the next `n` executes with 422 (VEX's answer to a prompt it screens out).
    pub fn reject(&self, n: u32) {
        self.with(|s| s.reject = n);
    }

    pub fn hold_jobs(&self, hold: bool) {
        self.with(|s| s.hold = hold);
    }

    /// After `n` more normally answered executes, stall the rest; `None` stops stalling.
    pub fn stall_after(&self, n: Option<usize>) {
        self.with(|s| {
            s.answered_executes = 0;
            s.stall_after = n;
        });
    }

    /// Forgets every agent and job, as a VEX whose in-memory queue restarted empty.
    pub fn forget_everything(&self) {
        self.with(|s| {
            s.agents.clear();
            s.jobs.clear();
            s.by_key.clear();
        });
    }

    /// Requests that match `method` and a path starting with `prefix`.
    pub fn requests(&self, method: &str, prefix: &str) -> Vec<Logged> {
        self.with(|s| {
            s.log
                .iter()
                .filter(|l| l.method == method && l.path.starts_with(prefix))
                .cloned()
                .collect()
        })
    }
}

impl Drop for VexServer {
    fn drop(&mut self) {
        self.stop();
    }
}

type St = Arc<Mutex<Shared>>;

fn router(state: St) -> Router {
    Router::new()
        .route("/api/v1/agents", post(create_agent))
        .route("/api/v1/agents/{id}/execute", post(execute))
        .route("/api/v1/jobs/{id}", get(job_status))
        .route("/api/v1/jobs/{id}/stream", get(job_stream))
        .with_state(state)
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    (status, Json(body)).into_response()
}

fn log(state: &St, method: &'static str, path: String, status: u16, key: Option<String>) {
    state.lock().expect("state").log.push(Logged {
        at: Instant::now(),
        method,
        path,
        status,
        idempotency_key: key,
    });
}

/// The 401 VEX gives, with its reason.
fn unauthorized(message: &str) -> Response {
    error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
}

/// The token's claims, or why it is refused (answered with [`unauthorized`]).
fn authenticate(state: &St, headers: &HeaderMap) -> Result<Value, &'static str> {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("Missing Authorization header")?;
    let token = header
        .strip_prefix("Bearer ")
        .ok_or("Invalid Authorization header format")?;
    let parts: Vec<&str> = token.split('.').collect();
    let [h, p, sig] = parts.as_slice() else {
        return Err("Invalid token");
    };
    let decode = |part: &str| -> Option<Value> {
        B64URL
            .decode(part)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    };
    let header = decode(h).ok_or("Invalid token")?;
    if header["alg"] != "HS256" {
        return Err("Invalid token");
    }
    let secret = state.lock().expect("state").secret.clone();
    let expected = hmac(&secret, format!("{h}.{p}").as_bytes());
    let given = B64URL.decode(sig).map_err(|_| "Invalid token")?;
    if given != expected {
        return Err("Invalid token");
    }
    let claims = decode(p).ok_or("Invalid token")?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    if claims["iss"] != ISSUER {
        return Err("Token validation failed: InvalidIssuer");
    }
    if claims["exp"].as_i64().is_none_or(|exp| exp < now) {
        return Err("Token expired");
    }
    Ok(claims)
}

fn has_role(claims: &Value, role: &str) -> bool {
    claims["role"] == role || claims["role"] == "admin"
}

fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("randomness");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

async fn create_agent(State(state): State<St>, headers: HeaderMap, body: Json<Value>) -> Response {
    let path = "/api/v1/agents".to_owned();
    let claims = match authenticate(&state, &headers) {
        Ok(c) => c,
        Err(why) => {
            log(&state, "POST", path, 401, None);
            return unauthorized(why);
        }
    };
    let respond = |status: StatusCode, r: Response| {
        log(&state, "POST", path.clone(), status.as_u16(), None);
        r
    };
    if !has_role(&claims, "user") {
        let s = StatusCode::FORBIDDEN;
        return respond(s, error(s, "FORBIDDEN", "Insufficient permissions"));
    }
    let name = body["name"].as_str().unwrap_or_default();
    let role = body["role"].as_str().unwrap_or_default();
    let depth = body["max_depth"].as_u64().unwrap_or(3);
    if name.is_empty() || role.len() < 3 || depth > 10 {
        let s = StatusCode::UNPROCESSABLE_ENTITY;
        return respond(s, error(s, "VALIDATION_ERROR", "Invalid input"));
    }
    let id = uuid_v4();
    state
        .lock()
        .expect("state")
        .agents
        .insert(id.clone(), body.0.clone());
    let answer = json!({
        "id": id, "name": name, "role": role, "generation": 0, "fitness": 0.5,
        "created_at": "2026-01-01T00:00:00Z",
    });
    respond(StatusCode::OK, Json(answer).into_response())
}

async fn execute(
    State(state): State<St>,
    Path(agent): Path<String>,
    headers: HeaderMap,
    body: Json<Value>,
) -> Response {
    let path = format!("/api/v1/agents/{agent}/execute");
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let respond = |status: u16, r: Response| {
        log(&state, "POST", path.clone(), status, key.clone());
        r
    };
    let claims = match authenticate(&state, &headers) {
        Ok(c) => c,
        Err(why) => return respond(401, unauthorized(why)),
    };
    let tenant = claims["sub"].as_str().unwrap_or_default().to_owned();
    let (job_id, stall) = {
        let mut s = state.lock().expect("state");
        if s.rate_limit > 0 {
            s.rate_limit -= 1;
            let secs = s.retry_after_secs;
            drop(s);
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "Too many requests",
            );
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().expect("header"));
            return respond(429, r);
        }
        if s.reject > 0 {
            s.reject -= 1;
            drop(s);
            let st = StatusCode::UNPROCESSABLE_ENTITY;
            let m = "Invalid prompt: Input contains forbidden pattern: bypass";
            return respond(422, error(st, "VALIDATION_ERROR", m));
        }
        if !s.agents.contains_key(&agent) {
            drop(s);
            return respond(
                404,
                error(StatusCode::NOT_FOUND, "NOT_FOUND", "Agent not found"),
            );
        }
        let Some(prompt) = body["prompt"].as_str().filter(|p| !p.is_empty()) else {
            drop(s);
            let st = StatusCode::UNPROCESSABLE_ENTITY;
            return respond(422, error(st, "VALIDATION_ERROR", "Invalid prompt"));
        };
        let existing = key.as_ref().and_then(|k| s.by_key.get(k)).cloned();
        let job_id = match existing {
            Some(id) => id,
            None => {
                let id = uuid_v4();
                s.jobs.insert(
                    id.clone(),
                    Job {
                        id: id.clone(),
                        agent: agent.clone(),
                        tenant,
                        idempotency_key: key.clone(),
                        context_id: body["context_id"].as_str().map(str::to_owned),
                        prompt: prompt.to_owned(),
                        finals_polled: 0,
                        finals_streamed: 0,
                    },
                );
                if let Some(k) = &key {
                    s.by_key.insert(k.clone(), id.clone());
                }
                id
            }
        };
        let stall = match s.stall_after {
            Some(n) if s.answered_executes >= n => {
                s.stalled += 1;
                true
            }
            _ => {
                s.answered_executes += 1;
                false
            }
        };
        (job_id, stall)
    };
    if stall {
        // Accepted, never answered: the client is killed (or times out) waiting.
        log(&state, "POST", path.clone(), 0, key.clone());
        std::future::pending::<()>().await;
    }
    let answer = json!({
        "agent_id": agent,
        "response": format!("Job queued: {job_id}"),
        "verified": false,
        "confidence": 1.0,
        "context_hash": "pending",
        "latency_ms": 3,
        "witness_receipt": format!("chora-witness-{}", &job_id[..8]),
        "merkle_root": null,
        "continuation_token": null,
    });
    respond(200, Json(answer).into_response())
}

/// The job as VEX reports it, counting a served final state.
fn job_view(state: &St, id: &str, streamed: bool) -> Option<Value> {
    let mut s = state.lock().expect("state");
    let hold = s.hold;
    let job = s.jobs.get_mut(id)?;
    if hold {
        return Some(
            json!({"job_id": id, "status": "running", "result": null, "error": null, "attempts": 1}),
        );
    }
    match streamed {
        true => job.finals_streamed += 1,
        false => job.finals_polled += 1,
    }
    let merkle: String = job
        .prompt
        .bytes()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(json!({
        "job_id": id,
        "status": "completed",
        "result": {"verdict": "block justified", "confidence": 0.97, "merkle_root": merkle},
        "error": null,
        "queued_at": "2026-01-01T00:00:00Z",
        "attempts": 1,
    }))
}

async fn job_status(
    State(state): State<St>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/api/v1/jobs/{id}");
    if let Err(why) = authenticate(&state, &headers) {
        log(&state, "GET", path, 401, None);
        return unauthorized(why);
    }
    match job_view(&state, &id, false) {
        Some(v) => {
            log(&state, "GET", path, 200, None);
            Json(v).into_response()
        }
        None => {
            log(&state, "GET", path, 404, None);
            error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                &format!("Job {id} not found"),
            )
        }
    }
}

async fn job_stream(
    State(state): State<St>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/api/v1/jobs/{id}/stream");
    if let Err(why) = authenticate(&state, &headers) {
        log(&state, "GET", path, 401, None);
        return unauthorized(why);
    }
    log(&state, "GET", path, 200, None);
    // Like VEX: one `data:` event per poll of the job, until it is final.
    let events = futures_util::stream::unfold((state, id, false), |(state, id, done)| async move {
        if done {
            return None;
        }
        match job_view(&state, &id, true) {
            Some(v) => {
                let final_ = v["status"] != "running";
                if !final_ {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                let event = Event::default().data(v.to_string());
                Some((
                    Ok::<_, std::convert::Infallible>(event),
                    (state, id, final_),
                ))
            }
            None => Some((
                Ok(Event::default().data("job_not_found")),
                (state, id, true),
            )),
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

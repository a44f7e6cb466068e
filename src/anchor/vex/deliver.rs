//! The delivery task: takes records from the outbox, sends them to VEX, follows their jobs,
//! and records what VEX answered.
//!
//! Each record moves `pending -> queued -> gone`; every move is a ledger event committed in
//! the same transaction as the outbox change it causes (an [`OutboxOp`] on the event's
//! [`Record`]), so after a crash the outbox says exactly which answers are already recorded:
//!
//! ```text
//! pending --execute--> "Job queued: <uuid>" --event vex_queued + Queued-->  queued
//! queued  --GET job / stream until final--> --event vex_result + Done-->   (removed, counted)
//! pending --400/413/422--> --event vex_rejected + Done-->                  (removed, counted)
//! queued  --job unknown to VEX--> --event vex_job_lost + Requeue-->        pending (generation+1)
//! ```
//!
//! The task never touches the proxy's path: it reads the outbox in its own read transactions
//! and records through the same [`Recorder`] as the proxy, so VEX being slow or down costs the
//! proxy nothing.

use crate::anchor::vex::client::{Class, Executed, JobState, VexClient, VexError};
use crate::anchor::vex::outbox::{self, LastError, StoredAgent};
use crate::anchor::vex::record::{
    CheckpointRef, IntentReport, OutboxItem, OutboxOp, Progress, REPORT_FORMAT,
};
use crate::ledger::store::Snapshot;
use crate::ledger::writer::{Record, Recorder};
use crate::ledger::{Identity, SessionRecorder};
use redb::Database;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Records delivered at once (each follows its own job).
const MAX_IN_FLIGHT: usize = 16;
/// How often the outbox is looked at for new records.
const POLL: Duration = Duration::from_millis(200);
/// First retry delay; doubles per failure up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Least time between two stores of the last error (each is a small durable transaction that
/// the proxy's writer would queue behind).
const STORE_ERROR_EVERY: Duration = Duration::from_secs(10);
/// VEX results larger than this are recorded as a digest and length only.
const MAX_RESULT_TEXT: usize = 64 * 1024;

/// Where and as whom to deliver: `VANGUARD_VEX_URL`, `VANGUARD_VEX_KEY`,
/// `VANGUARD_VEX_AGENT_ID`.
#[derive(Clone)]
pub struct VexConfig {
    pub url: String,
    /// The Bearer JWT; never logged.
    pub key: Option<String>,
    /// Use this agent instead of creating one.
    pub agent_id: Option<String>,
}

impl std::fmt::Debug for VexConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VexConfig")
            .field("url", &self.url)
            .field("key", &self.key.as_ref().map(|_| "<set>"))
            .field("agent_id", &self.agent_id)
            .finish()
    }
}

impl VexConfig {
    /// The configuration from the environment; `None` when `VANGUARD_VEX_URL` is unset or
    /// empty (VEX off). Fails on a URL that is not http(s), before anything is recorded.
    pub fn from_env() -> Result<Option<VexConfig>, VexError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let Some(url) = var("VANGUARD_VEX_URL") else {
            return Ok(None);
        };
        VexClient::new(&url, None)?;
        Ok(Some(VexConfig {
            url,
            key: var("VANGUARD_VEX_KEY"),
            agent_id: var("VANGUARD_VEX_AGENT_ID"),
        }))
    }
}

/// Why one delivery step did not finish.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Vex(#[from] VexError),
    /// Recording VEX's answer, or reading the ledger, failed; nothing changed in the outbox.
    #[error("ledger: {0}")]
    Ledger(String),
    /// The agent this ledger created is gone from VEX; the next attempt creates a new one.
    #[error("the VEX agent is gone, creating a new one: {0}")]
    AgentGone(VexError),
}

/// The running delivery task's shared state.
pub struct Delivery {
    db: Arc<Database>,
    recorder: Recorder,
    identity: Identity,
    origin: String,
    client: VexClient,
    configured_agent: Option<String>,
    /// The agent in use once known (tokio mutex: held while one task creates it).
    agent: tokio::sync::Mutex<Option<String>>,
    /// An agent we created that VEX no longer knows: not to be reused from the ledger.
    stale_agent: std::sync::Mutex<Option<String>>,
    /// No request before this instant (a `Retry-After` applies to the whole client).
    not_before: std::sync::Mutex<Instant>,
    /// The last error stored and when: errors are stored at most every
    /// [`STORE_ERROR_EVERY`], so an outage costs the ledger writer almost nothing.
    last_error: std::sync::Mutex<Option<(String, Instant)>>,
}

impl Delivery {
    /// `recorder` and `identity` are the proxy's: VEX answers are events of its session.
    pub fn new(
        config: &VexConfig,
        db: Arc<Database>,
        recorder: Recorder,
        identity: Identity,
        origin: String,
    ) -> Result<Arc<Delivery>, VexError> {
        let client = VexClient::new(&config.url, config.key.clone())?;
        Ok(Arc::new(Delivery {
            db,
            recorder,
            identity,
            origin,
            client,
            configured_agent: config.agent_id.clone(),
            agent: tokio::sync::Mutex::new(config.agent_id.clone()),
            stale_agent: std::sync::Mutex::new(None),
            not_before: std::sync::Mutex::new(Instant::now()),
            last_error: std::sync::Mutex::new(None),
        }))
    }

    /// Delivers until the runtime stops. Never returns on its own.
    pub async fn run(self: Arc<Self>) {
        let mut tasks = tokio::task::JoinSet::new();
        // The record each running task delivers, by task.
        let mut in_flight: HashMap<tokio::task::Id, u64> = HashMap::new();
        loop {
            if in_flight.len() < MAX_IN_FLIGHT {
                match self.read_outbox().await {
                    Ok(items) => {
                        let busy: HashSet<u64> = in_flight.values().copied().collect();
                        let room = MAX_IN_FLIGHT - in_flight.len();
                        for (seq, item) in items
                            .into_iter()
                            .filter(|(s, _)| !busy.contains(s))
                            .take(room)
                        {
                            let this = self.clone();
                            let task = tasks.spawn(async move { this.deliver(seq, item).await });
                            in_flight.insert(task.id(), seq);
                        }
                    }
                    Err(e) => self.note_error(&format!("reading the VEX outbox: {e}")),
                }
            }
            tokio::select! {
                Some(done) = tasks.join_next_with_id() => {
                    let id = match done {
                        Ok((id, ())) => id,
                        // A panicked delivery must not wedge its record: it is read afresh
                        // from the outbox, whose state is always what the ledger recorded.
                        Err(e) => {
                            tracing::error!(error = %e, "VEX delivery task failed");
                            e.id()
                        }
                    };
                    in_flight.remove(&id);
                }
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    async fn read_outbox(&self) -> Result<Vec<(u64, OutboxItem)>, String> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let snap = Snapshot::new(&db).map_err(|e| e.to_string())?;
            outbox::records(&snap, 0, MAX_IN_FLIGHT * 4).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Takes one record to the end, retrying with backoff.
    async fn deliver(&self, seq: u64, mut item: OutboxItem) {
        let mut failures = 0u32;
        loop {
            match self.step(seq, &mut item).await {
                Ok(true) => return,
                Ok(false) => failures = 0,
                Err(e) => {
                    let wait = match &e {
                        StepError::Vex(v) => match v.class() {
                            Class::Retry(Some(after)) => {
                                self.hold_off(after);
                                after + jitter(after / 10)
                            }
                            Class::Retry(None) | Class::Rejected => backoff(failures),
                            Class::Config => MAX_BACKOFF,
                        },
                        StepError::Ledger(_) | StepError::AgentGone(_) => backoff(failures),
                    };
                    failures = failures.saturating_add(1);
                    self.note_error(&format!("record {seq}: {e}"));
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// One move of the state machine. `Ok(true)`: the record left the outbox.
    async fn step(&self, seq: u64, item: &mut OutboxItem) -> Result<bool, StepError> {
        match item.progress.clone() {
            Progress::Pending => self.submit(seq, item).await,
            Progress::Queued { job_id, agent_id } => {
                self.await_job(seq, item, &job_id, &agent_id).await
            }
        }
    }

    async fn submit(&self, seq: u64, item: &mut OutboxItem) -> Result<bool, StepError> {
        let agent_id = self.agent_id().await?;
        let report = self.report(seq, item).await?;
        let key = item.idempotency_key(&self.origin, seq);
        self.wait_turn().await;
        let executed = match self.client.execute(&agent_id, &report.prompt(), &key).await {
            Ok(x) => x,
            Err(e) if e.class() == Class::Rejected => {
                let (status, body) = match &e {
                    VexError::Status { status, body, .. } => (*status, body.clone()),
                    _ => (0, e.to_string()),
                };
                let event = json!({
                    "type": "vex_rejected",
                    "blocked_seq": seq,
                    "agent_id": agent_id,
                    "idempotency_key": key,
                    "http_status": status,
                    "error": body,
                });
                self.record(event, OutboxOp::Done { blocked_seq: seq })
                    .await?;
                tracing::warn!(seq, status, "VEX refused a blocked-intent report; recorded");
                return Ok(true);
            }
            Err(e @ VexError::Status { status: 404, .. }) => {
                // Our own agent may be gone (a VEX reset): make a new one next time.
                if self.configured_agent.is_none() {
                    *self.agent.lock().await = None;
                    *self
                        .stale_agent
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(agent_id);
                    return Err(StepError::AgentGone(e));
                }
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let Executed {
            job_id,
            response,
            witness_receipt,
            context_hash,
        } = executed;
        let mut event = Map::new();
        event.insert("blocked_seq".into(), seq.into());
        event.insert("agent_id".into(), agent_id.clone().into());
        event.insert("idempotency_key".into(), key.into());
        event.insert("response".into(), response.into());
        if let Some(w) = witness_receipt {
            event.insert("witness_receipt".into(), w.into());
        }
        if let Some(c) = context_hash {
            event.insert("context_hash".into(), c.into());
        }
        match job_id {
            Some(job_id) => {
                event.insert("type".into(), "vex_queued".into());
                event.insert("job_id".into(), job_id.clone().into());
                let op = OutboxOp::Queued {
                    blocked_seq: seq,
                    job_id: job_id.clone(),
                    agent_id: agent_id.clone(),
                };
                self.record(Value::Object(event), op).await?;
                tracing::debug!(seq, job = %job_id, "VEX queued a job for a blocked intent");
                item.progress = Progress::Queued { job_id, agent_id };
                Ok(false)
            }
            None => {
                // VEX answered at once without queueing (a governance halt): that is final.
                event.insert("type".into(), "vex_result".into());
                event.insert("status".into(), "answered".into());
                self.record(Value::Object(event), OutboxOp::Done { blocked_seq: seq })
                    .await?;
                Ok(true)
            }
        }
    }

    async fn await_job(
        &self,
        seq: u64,
        item: &mut OutboxItem,
        job_id: &str,
        agent_id: &str,
    ) -> Result<bool, StepError> {
        self.wait_turn().await;
        let state = match self.client.job(job_id).await {
            Ok(s) if s.is_final() => Ok(s),
            Ok(_) => {
                self.wait_turn().await;
                match self.client.follow(job_id).await {
                    Ok(Some(s)) => Ok(s),
                    Ok(None) => Err(VexError::Network(format!(
                        "job {job_id} stream ended before a final state"
                    ))),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        let state = match state {
            Ok(s) => s,
            Err(VexError::JobNotFound { .. }) => {
                let event = json!({
                    "type": "vex_job_lost",
                    "blocked_seq": seq,
                    "agent_id": agent_id,
                    "job_id": job_id,
                });
                self.record(event, OutboxOp::Requeue { blocked_seq: seq })
                    .await?;
                tracing::warn!(seq, job = %job_id, "VEX lost the job; sending the record again");
                item.generation = item.generation.saturating_add(1);
                item.progress = Progress::Pending;
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        let event = result_event(seq, agent_id, job_id, &state);
        self.record(event, OutboxOp::Done { blocked_seq: seq })
            .await?;
        tracing::info!(seq, job = %job_id, status = %state.status, "VEX answer recorded");
        Ok(true)
    }

    /// The agent to execute on: configured, remembered for this URL, or created once.
    async fn agent_id(&self) -> Result<String, StepError> {
        let mut agent = self.agent.lock().await;
        if let Some(a) = agent.as_ref() {
            return Ok(a.clone());
        }
        let db = self.db.clone();
        let stored = tokio::task::spawn_blocking(move || {
            let snap = Snapshot::new(&db)?;
            StoredAgent::read(&snap)
        })
        .await
        .map_err(|e| StepError::Ledger(e.to_string()))?
        .map_err(|e| StepError::Ledger(e.to_string()))?;
        let stale = self
            .stale_agent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let usable =
            |s: &StoredAgent| s.url == self.client.base() && Some(&s.agent_id) != stale.as_ref();
        if let Some(s) = stored.filter(usable) {
            *agent = Some(s.agent_id.clone());
            return Ok(s.agent_id);
        }
        self.wait_turn().await;
        let ledger_id = self.origin.rsplit('/').next().unwrap_or("ledger");
        let id = self
            .client
            .create_agent(&format!("vanguard-{ledger_id}"))
            .await
            .map_err(|e| match e {
                VexError::Status {
                    status: 403,
                    body,
                    retry_after,
                } => VexError::Status {
                    status: 403,
                    body: format!(
                        "{body} (this key may not create agents: set VANGUARD_VEX_AGENT_ID to an \
                         agent it may execute)"
                    ),
                    retry_after,
                },
                e => e,
            })?;
        let remember = StoredAgent {
            url: self.client.base().to_owned(),
            agent_id: id.clone(),
        };
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || outbox::set_agent(&db, &remember))
            .await
            .map_err(|e| StepError::Ledger(e.to_string()))?
            .map_err(|e| StepError::Ledger(e.to_string()))?;
        tracing::info!(agent = %id, "created the VEX agent for this ledger");
        *agent = Some(id.clone());
        Ok(id)
    }

    /// The report for record `seq`, completed from the ledger: the entry's time and the first
    /// checkpoint that covers it.
    async fn report(&self, seq: u64, item: &OutboxItem) -> Result<IntentReport, StepError> {
        let db = self.db.clone();
        let (time, size, root) = tokio::task::spawn_blocking(move || {
            let snap = Snapshot::new(&db).map_err(|e| e.to_string())?;
            let entry = snap
                .entry(seq)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("blocked entry {seq} is missing"))?;
            let entry = vanguard_verifier::Entry::parse_canonical(&entry)
                .map_err(|e| format!("entry {seq}: {e}"))?;
            let (size, note) = snap
                .checkpoint_at_least(seq + 1)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no checkpoint covers entry {seq}"))?;
            let body = note
                .find("\n\n")
                .map(|i| &note[..=i])
                .ok_or_else(|| format!("checkpoint {size} has no signature block"))?;
            let checkpoint = vanguard_verifier::Checkpoint::parse_body(body)
                .map_err(|e| format!("checkpoint {size}: {e}"))?;
            Ok::<_, String>((entry.time, size, checkpoint.root().to_string()))
        })
        .await
        .map_err(|e| StepError::Ledger(e.to_string()))?
        .map_err(StepError::Ledger)?;
        Ok(IntentReport {
            format: REPORT_FORMAT.into(),
            ledger: self.origin.clone(),
            seq,
            time,
            checkpoint: CheckpointRef { size, root },
            intent: item.intent.clone(),
        })
    }

    /// Records `event` with its outbox change and waits until both are durable.
    async fn record(&self, event: Value, op: OutboxOp) -> Result<(), StepError> {
        let mut record: Record = SessionRecorder::event_record(&self.identity, event);
        record.outbox = Some(op);
        self.recorder
            .append(record)
            .await
            .wait()
            .await
            .map(|_| ())
            .map_err(|e| StepError::Ledger(e.to_string()))
    }

    /// Waits out a `Retry-After` another request was given.
    async fn wait_turn(&self) {
        let until = *self
            .not_before
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if until > now {
            tokio::time::sleep(until - now).await;
        }
    }

    fn hold_off(&self, after: Duration) {
        let mut until = self
            .not_before
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *until = (*until).max(Instant::now() + after);
    }

    /// Logs an error and stores it for `vanguard vex status`: the first at once, then at
    /// most one every [`STORE_ERROR_EVERY`] (the others are logged at debug level).
    fn note_error(&self, text: &str) {
        {
            let mut last = self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let recent = last
                .as_ref()
                .is_some_and(|(_, at)| at.elapsed() < STORE_ERROR_EVERY);
            if recent {
                tracing::debug!(error = text, "VEX delivery will retry");
                return;
            }
            *last = Some((text.to_owned(), Instant::now()));
        }
        let stored = LastError {
            time: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            error: text.to_owned(),
        };
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || match outbox::set_last_error(&db, &stored) {
            // Logged once stored, so whoever reads the log can rely on `vex status` having it.
            Ok(()) => {
                tracing::warn!(error = %stored.error, "stored VEX delivery error; will retry")
            }
            Err(e) => {
                tracing::warn!(error = %stored.error, store = %e, "VEX delivery error (not stored); will retry")
            }
        });
    }
}

/// The event for a job's final state. VEX results are arbitrary JSON (with floats, which
/// entries cannot hold), so the result is kept as its JSON text.
fn result_event(seq: u64, agent_id: &str, job_id: &str, state: &JobState) -> Value {
    let mut event = Map::new();
    event.insert("type".into(), "vex_result".into());
    event.insert("blocked_seq".into(), seq.into());
    event.insert("agent_id".into(), agent_id.into());
    event.insert("job_id".into(), job_id.into());
    event.insert("status".into(), state.status.clone().into());
    if let Some(result) = &state.result {
        let text = result.to_string();
        if text.len() <= MAX_RESULT_TEXT {
            event.insert("result".into(), text.into());
        } else {
            use sha2::Digest as _;
            let digest: String = sha2::Sha256::digest(text.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            event.insert("result_sha256".into(), digest.into());
            event.insert("result_len".into(), (text.len() as u64).into());
        }
    }
    if let Some(e) = &state.error {
        event.insert("error".into(), e.clone().into());
    }
    if let Some(a) = state.attempts {
        event.insert("attempts".into(), a.min(1 << 53).into());
    }
    Value::Object(event)
}

/// Exponential backoff with equal jitter: half the step fixed, half random.
fn backoff(failures: u32) -> Duration {
    let step = BASE_BACKOFF
        .saturating_mul(1u32 << failures.min(16))
        .min(MAX_BACKOFF);
    step / 2 + jitter(step / 2)
}

/// Uniform in `[0, max]`.
fn jitter(max: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return max / 2;
    }
    let r = u64::from_le_bytes(bytes) as f64 / u64::MAX as f64;
    max.mul_f64(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_keeps_half_fixed() {
        for failures in 0..40 {
            let step = BASE_BACKOFF
                .saturating_mul(1u32 << failures.min(16))
                .min(MAX_BACKOFF);
            let d = backoff(failures);
            assert!(d >= step / 2 && d <= step, "{failures}: {d:?} vs {step:?}");
        }
        assert!(backoff(30) >= MAX_BACKOFF / 2);
    }

    #[test]
    fn result_with_floats_becomes_text_an_entry_can_hold() {
        let state = JobState {
            status: "completed".into(),
            result: Some(json!({"confidence": 0.93, "verdict": "justified"})),
            error: None,
            attempts: Some(1),
        };
        let event = result_event(4, "a", "j", &state);
        assert_eq!(
            event["result"],
            r#"{"confidence":0.93,"verdict":"justified"}"#
        );
        vanguard_verifier::to_canonical_json(&event).expect("canonical");
    }
}

//! `/health`, `/health/live`, `/health/ready`, `/status`, `/metrics`: read from the stage
//! handles and the metrics, never from the stages' threads (an answer never waits on a
//! busy model).

use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use edgeflow_core::{Lifecycle, Role, StageState};
use serde_json::{Value, json};

use crate::app::App;
use crate::view::{rfc3339, round2};

/// One check of a probe: its name, whether it passed, and why not.
fn check(name: String, ok: bool, why: Option<String>) -> Value {
    json!({ "check": name, "ok": ok, "detail": why })
}

/// Live: no stage thread has failed or hangs inside one call (`stall_after`).
fn liveness(states: &[StageState]) -> Vec<Value> {
    states
        .iter()
        .map(|s| {
            let why = match &s.lifecycle {
                Lifecycle::Failed { cause } => Some(format!("failed: {cause}")),
                Lifecycle::Stalled { busy_for } => Some(format!(
                    "stalled: inside one call for {} ms",
                    busy_for.as_millis()
                )),
                _ => None,
            };
            check(format!("stage {} runs", s.id), why.is_none(), why)
        })
        .collect()
}

/// Ready: every stage built and running, and every source produced within the timeout.
fn readiness(app: &App, states: &[StageState]) -> Vec<Value> {
    let timeout = Duration::from_millis(app.config.ready_timeout_ms);
    let now = SystemTime::now();
    let mut checks = Vec::new();
    for (s, node) in states.iter().zip(&app.graph) {
        let running = matches!(s.lifecycle, Lifecycle::Running);
        checks.push(check(
            format!("stage {} is running", s.id),
            running,
            (!running).then(|| format!("it is {}", s.lifecycle.name())),
        ));
        if node.role == Role::Source {
            let age = s.last_item.and_then(|t| now.duration_since(t).ok());
            let fresh = age.is_some_and(|a| a <= timeout);
            let why = match age {
                None => "no item yet".to_string(),
                Some(a) => format!("its last item was {} ms ago", a.as_millis()),
            };
            checks.push(check(
                format!("source {} produced within {} ms", s.id, timeout.as_millis()),
                fresh,
                (!fresh).then_some(why),
            ));
        }
    }
    checks
}

fn probe(name: &str, checks: Vec<Value>) -> Response {
    let ok = checks.iter().all(|c| c["ok"] == true);
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let failing: Vec<&Value> = checks.iter().filter(|c| c["ok"] != true).collect();
    (
        status,
        Json(json!({
            "status": if ok { "ok" } else { "unavailable" },
            "probe": name,
            "failing": failing,
            "checks": checks,
        })),
    )
        .into_response()
}

fn states(app: &App) -> Vec<StageState> {
    app.stages.iter().map(|s| s.state()).collect()
}

/// `GET /health/live`: 200 while every stage thread runs (503 names the failed or hung one).
pub async fn live(State(app): State<App>) -> Response {
    probe("live", liveness(&states(&app)))
}

/// `GET /health/ready`: 200 when every stage runs and every source produced lately.
pub async fn ready(State(app): State<App>) -> Response {
    let s = states(&app);
    probe("ready", readiness(&app, &s))
}

/// `GET /health`: live and ready together.
pub async fn health(State(app): State<App>) -> Response {
    let s = states(&app);
    let mut checks = liveness(&s);
    checks.extend(readiness(&app, &s));
    probe("health", checks)
}

/// `GET /status`: the graph, each stage's state, counters and report, the streams, the
/// spool backlog and the drops per edge.
pub async fn status(State(app): State<App>) -> Response {
    let snapshot = app.metrics.snapshot();
    let stages: Vec<Value> = states(&app)
        .into_iter()
        .zip(&app.graph)
        .map(|(s, node)| {
            let stats = snapshot.stage(&s.id);
            json!({
                "id": s.id,
                "type": node.kind,
                "role": node.role.name(),
                "inputs": node.inputs,
                "state": s.lifecycle.name(),
                "cause": match &s.lifecycle { Lifecycle::Failed { cause } => Some(cause.clone()), _ => None },
                "items_in": s.items_in,
                "items_out": s.items_out,
                "errors": stats.map(|t| t.errors),
                "latency_p50_ms": stats.and_then(|t| t.latency_p50).map(|d| round2(d.as_secs_f64() * 1e3)),
                "latency_p99_ms": stats.and_then(|t| t.latency_p99).map(|d| round2(d.as_secs_f64() * 1e3)),
                "last_item": s.last_item.map(rfc3339),
                "config_generation": s.config_generation,
                "report": Value::Object(s.report.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()),
            })
        })
        .collect();
    let spool: Vec<Value> = stages
        .iter()
        .filter(|s| !s["report"]["spool_pending"].is_null())
        .map(|s| {
            json!({
                "stage": s["id"],
                "pending": s["report"]["spool_pending"],
                "delivered": s["report"]["spool_delivered"],
                "dropped": s["report"]["spool_dropped"],
            })
        })
        .collect();
    let edges: Vec<Value> = snapshot
        .edges
        .iter()
        .map(|e| json!({ "from": e.from, "to": e.to, "dropped": e.dropped }))
        .collect();
    Json(json!({
        "pipeline": app.pipeline,
        "uptime_s": round2(app.started.elapsed().as_secs_f64()),
        "frames": snapshot.frames,
        "fps": round2(snapshot.fps),
        "stages": stages,
        "streams": app.views.list(),
        "spool": spool,
        "drops": { "total": snapshot.total_dropped(), "edges": edges },
    }))
    .into_response()
}

/// `GET /metrics`: Prometheus text exposition of the pipeline's and the service's metrics.
pub async fn metrics(State(app): State<App>) -> Response {
    app.own.refresh(&app.views);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.encode_text(),
    )
        .into_response()
}

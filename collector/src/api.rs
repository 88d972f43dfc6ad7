//! The REST API (axum): stored events, analytics, devices, alerts, uploads, health and
//! metrics. Every bad query parameter is a 400 whose JSON names it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde_json::{Value, json};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use tokio::io::AsyncWriteExt;

use crate::config::CollectorConfig;
use crate::metrics::Metrics;
use crate::store::{Store, now_ms};

/// What the handlers share.
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The config.
    pub config: CollectorConfig,
    /// The bearer token, if one is required.
    pub token: Option<String>,
    /// Set by the consumer while the store refuses its batches.
    pub store_failing: Arc<std::sync::atomic::AtomicBool>,
}

type Shared = State<Arc<AppState>>;

/// An error answer: a status and a JSON body `{"error": ..., "parameter": ...}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    fn param(name: &str, msg: impl std::fmt::Display) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            body: json!({ "error": format!("`{name}`: {msg}"), "parameter": name }),
        }
    }
    fn new(status: StatusCode, msg: impl std::fmt::Display) -> ApiError {
        ApiError {
            status,
            body: json!({ "error": msg.to_string() }),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        tracing::warn!(error = %e, "store query failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the store is not available: {e}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

type ApiResult = Result<Response, ApiError>;

/// The router.
pub fn router(state: Arc<AppState>) -> Router {
    let upload_limit = state
        .config
        .uploads
        .max_clip_bytes
        .max(state.config.uploads.max_snapshot_bytes);
    let uploads = Router::new()
        .route("/clips/{id}", get(get_clip).put(put_clip))
        .route("/snapshots/{id}", get(get_snapshot).put(put_snapshot))
        .layer(DefaultBodyLimit::max(upload_limit));
    Router::new()
        .route("/data", get(data))
        .route("/analytics/counts", get(counts))
        .route("/devices", get(devices))
        .route("/alerts", get(alerts))
        .route("/alerts/{id}/acknowledge", post(acknowledge))
        .route("/dead_letters", get(dead_letters))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(state.config.http.max_body_bytes))
        .merge(uploads)
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no such endpoint (see docs/collector.md)",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Bearer token (all but `/health`) and the request counter.
async fn guard(State(s): Shared, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("other", |m| m.as_str())
        .to_string();
    let allowed = route == "/health"
        || s.token.as_ref().is_none_or(|t| {
            req.headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                == Some(t.as_str())
        });
    let resp = if allowed {
        next.run(req).await
    } else {
        let mut r = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "a bearer token is required (`Authorization: Bearer ...`)",
        )
        .into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        r
    };
    s.metrics
        .http
        .with_label_values(&[&route, resp.status().as_str()])
        .inc();
    resp
}

/// The query parameters, refusing any this endpoint does not know.
struct Params(HashMap<String, String>);

impl Params {
    fn of(q: HashMap<String, String>, known: &[&str]) -> Result<Params, ApiError> {
        if let Some(k) = q.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ApiError::param(
                k,
                format!(
                    "unknown parameter; this endpoint takes {}",
                    known.join(", ")
                ),
            ));
        }
        Ok(Params(q))
    }
    fn text(&self, k: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(k) {
            Some(v) if v.is_empty() => Err(ApiError::param(k, "must not be empty")),
            v => Ok(v.cloned()),
        }
    }
    /// A time: RFC 3339 or milliseconds since 1970.
    fn time(&self, k: &str) -> Result<Option<i64>, ApiError> {
        let Some(v) = self.0.get(k) else {
            return Ok(None);
        };
        if let Ok(ms) = v.parse::<i64>() {
            return Ok(Some(ms));
        }
        humantime::parse_rfc3339_weak(v)
            .map(|t| {
                Some(
                    t.duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() as i64)
                        .unwrap_or(0),
                )
            })
            .map_err(|_| ApiError::param(k, format!("{v:?} is not a time: give RFC 3339 (2026-12-01T10:00:00Z) or milliseconds since 1970")))
    }
    fn number(&self, k: &str, max: usize) -> Result<Option<usize>, ApiError> {
        let Some(v) = self.0.get(k) else {
            return Ok(None);
        };
        match v.parse::<usize>() {
            Ok(n) if n >= 1 && n <= max => Ok(Some(n)),
            _ => Err(ApiError::param(
                k,
                format!("{v:?} must be a whole number from 1 to {max}"),
            )),
        }
    }
    fn boolean(&self, k: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(k).map(String::as_str) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::param(
                k,
                format!("{v:?} must be `true` or `false`"),
            )),
        }
    }
}

/// A value bound to a dynamic query.
enum Bind {
    Text(String),
    Int(i64),
}

/// WHERE clauses and their values, numbered `$1`, `$2`, ...
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Filter {
    /// Add `sql`, each `?` in it taking the next of `values`.
    fn push(&mut self, sql: &str, values: impl IntoIterator<Item = Bind>) {
        let mut values = values.into_iter();
        let mut out = String::with_capacity(sql.len() + 8);
        for ch in sql.chars() {
            match (ch, ch == '?') {
                (_, true) => {
                    if let Some(v) = values.next() {
                        self.binds.push(v);
                        out.push_str(&format!("${}", self.binds.len()));
                    }
                }
                (c, false) => out.push(c),
            }
        }
        self.clauses.push(out);
    }
    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }
    fn query<'q>(
        &'q self,
        sql: &'q str,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        let mut q = sqlx::query(sql);
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.as_str()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }
    /// The filters `/data` and `/analytics/counts` share.
    fn common(p: &Params) -> Result<Filter, ApiError> {
        let mut f = Filter::default();
        for (param, column) in [
            ("device_id", "device_id"),
            ("stream_id", "stream_id"),
            ("kind", "kind"),
            ("zone_id", "zone_id"),
        ] {
            if let Some(v) = p.text(param)? {
                f.push(&format!("{column} = ?"), [Bind::Text(v)]);
            }
        }
        if let Some(class) = p.text("class")? {
            // Zone events carry it as a column; detections inside their boxes.
            let pattern = format!("%\"class\":\"{}\"%", class.replace(['%', '_', '"'], ""));
            f.push(
                "(class = ? OR payload LIKE ?)",
                [Bind::Text(class), Bind::Text(pattern)],
            );
        }
        let (from, to) = (p.time("from")?, p.time("to")?);
        if let (Some(a), Some(b)) = (from, to)
            && a > b
        {
            return Err(ApiError::param("to", "is before `from`"));
        }
        if let Some(from) = from {
            f.push("ts_ms >= ?", [Bind::Int(from)]);
        }
        if let Some(to) = to {
            f.push("ts_ms < ?", [Bind::Int(to)]);
        }
        Ok(f)
    }
}

fn json_response(v: Value) -> ApiResult {
    Ok(axum::Json(v).into_response())
}

/// `GET /data`: stored events, newest first, a page at a time (`cursor` from the last page).
async fn data(State(s): Shared, Query(q): Query<HashMap<String, String>>) -> ApiResult {
    let p = Params::of(
        q,
        &[
            "device_id",
            "stream_id",
            "kind",
            "zone_id",
            "class",
            "from",
            "to",
            "limit",
            "cursor",
        ],
    )?;
    let max = s.config.http.max_page_size;
    let limit = p.number("limit", max)?.unwrap_or(max.min(100));
    let mut f = Filter::common(&p)?;
    if let Some(c) = p.text("cursor")? {
        let bad = || {
            ApiError::param(
                "cursor",
                "not a cursor of this API: pass `next_cursor` of the previous page",
            )
        };
        let (ts, id) = c.split_once('.').ok_or_else(bad)?;
        let (ts, id) = (
            ts.parse::<i64>().map_err(|_| bad())?,
            id.parse::<i64>().map_err(|_| bad())?,
        );
        f.push(
            "(ts_ms < ? OR (ts_ms = ? AND id < ?))",
            [Bind::Int(ts), Bind::Int(ts), Bind::Int(id)],
        );
    }
    let sql = format!(
        "SELECT id, ts_ms, payload FROM events {} ORDER BY ts_ms DESC, id DESC LIMIT {}",
        f.sql(),
        limit + 1
    );
    let rows = f.query(&sql).fetch_all(s.store.pool()).await?;
    let more = rows.len() > limit;
    let mut events = Vec::with_capacity(limit);
    let mut last = None;
    for r in rows.iter().take(limit) {
        let payload: String = r.try_get("payload")?;
        events.push(serde_json::from_str::<Value>(&payload).unwrap_or(Value::Null));
        last = Some((r.try_get::<i64, _>("ts_ms")?, r.try_get::<i64, _>("id")?));
    }
    let next = more
        .then(|| last.map(|(t, i)| format!("{t}.{i}")))
        .flatten();
    json_response(json!({ "events": events, "count": events.len(), "next_cursor": next }))
}

fn int(r: &AnyRow, k: &str) -> i64 {
    r.try_get::<i64, _>(k).unwrap_or(0)
}
/// Dwell statistics of a group: count, mean and max seconds (null without exits).
fn dwell(r: &AnyRow) -> Value {
    let n = int(r, "dwell_count");
    let (sum, max) = (int(r, "dwell_sum_ms"), int(r, "dwell_max_ms"));
    json!({
        "count": n,
        "mean_s": (n > 0).then(|| sum as f64 / n as f64 / 1000.0),
        "max_s": (max >= 0).then(|| max as f64 / 1000.0),
    })
}
fn text(r: &AnyRow, k: &str) -> Option<String> {
    r.try_get::<String, _>(k).ok()
}

/// `GET /analytics/counts?group_by=hour|zone|line|device&from&to`.
async fn counts(State(s): Shared, Query(q): Query<HashMap<String, String>>) -> ApiResult {
    let p = Params::of(q, &["group_by", "device_id", "stream_id", "from", "to"])?;
    let group_by = p.text("group_by")?.unwrap_or_else(|| "hour".into());
    let f = Filter::common(&p)?;
    let w = if f.clauses.is_empty() {
        "WHERE".to_string()
    } else {
        format!("{} AND", f.sql())
    };
    // One row per group: persons (detections frames), zone entries/exits, line crossings by
    // direction, dwell statistics.
    let measures = "CAST(COALESCE(SUM(CASE WHEN kind = 'detections' THEN persons ELSE 0 END), 0) AS BIGINT) AS persons_detected,
        CAST(COALESCE(MAX(CASE WHEN kind = 'detections' THEN persons ELSE 0 END), 0) AS BIGINT) AS persons_max,
        CAST(COALESCE(SUM(CASE WHEN event_type = 'enter' THEN 1 ELSE 0 END), 0) AS BIGINT) AS entries,
        CAST(COALESCE(SUM(CASE WHEN event_type = 'exit' THEN 1 ELSE 0 END), 0) AS BIGINT) AS exits,
        CAST(COALESCE(SUM(CASE WHEN event_type = 'line_cross' AND direction = 'in' THEN 1 ELSE 0 END), 0) AS BIGINT) AS crossings_in,
        CAST(COALESCE(SUM(CASE WHEN event_type = 'line_cross' AND direction = 'out' THEN 1 ELSE 0 END), 0) AS BIGINT) AS crossings_out,
        CAST(COALESCE(SUM(CASE WHEN event_type = 'line_cross' THEN 1 ELSE 0 END), 0) AS BIGINT) AS crossings,
        CAST(COALESCE(SUM(CASE WHEN dwell_ms IS NOT NULL AND event_type = 'exit' THEN 1 ELSE 0 END), 0) AS BIGINT) AS dwell_count,
        CAST(COALESCE(SUM(CASE WHEN event_type = 'exit' THEN dwell_ms ELSE 0 END), 0) AS BIGINT) AS dwell_sum_ms,
        CAST(COALESCE(MAX(CASE WHEN event_type = 'exit' THEN dwell_ms END), -1) AS BIGINT) AS dwell_max_ms";
    let (key, filter) = match group_by.as_str() {
        "hour" => ("CAST((ts_ms / 3600000) * 3600000 AS BIGINT)", ""),
        "device" => ("device_id", ""),
        "zone" => (
            "zone_id",
            " kind = 'zone_event' AND event_type <> 'line_cross' AND",
        ),
        "line" => (
            "zone_id",
            " kind = 'zone_event' AND event_type = 'line_cross' AND",
        ),
        other => {
            return Err(ApiError::param(
                "group_by",
                format!("{other:?} is none of `hour`, `zone`, `line`, `device`"),
            ));
        }
    };
    let sql = format!(
        "SELECT {key} AS grp, {measures} FROM events {w}{filter} kind IN ('detections', 'zone_event')
         GROUP BY {key} ORDER BY grp"
    );
    let rows = f.query(&sql).fetch_all(s.store.pool()).await?;
    let groups: Vec<Value> = rows
        .iter()
        .map(|r| {
            let grp = if group_by == "hour" {
                let ms = int(r, "grp");
                json!(humantime::format_rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64)).to_string())
            } else {
                json!(text(r, "grp"))
            };
            let mut o = json!({ group_by.as_str(): grp });
            let m = o.as_object_mut();
            if let Some(m) = m {
                let mut put = |k: &str, v: Value| {
                    m.insert(k.into(), v);
                };
                if group_by != "line" {
                    put("entries", json!(int(r, "entries")));
                    put("exits", json!(int(r, "exits")));
                    put(
                        "dwell",
                        dwell(r),
                    );
                }
                if group_by != "zone" {
                    put(
                        "line_crossings",
                        json!({ "in": int(r, "crossings_in"), "out": int(r, "crossings_out"), "total": int(r, "crossings") }),
                    );
                }
                if group_by == "hour" || group_by == "device" {
                    put("persons_detected", json!(int(r, "persons_detected")));
                    put("persons_max", json!(int(r, "persons_max")));
                }
            }
            o
        })
        .collect();
    json_response(json!({ "group_by": group_by, "groups": groups }))
}

/// Devices with their online state (updating the device gauges).
async fn device_list(s: &AppState) -> Result<Vec<Value>, ApiError> {
    let rows = sqlx::query(
        "SELECT device_id, first_seen_ms, last_seen_ms, events, version, pipeline, streams,
            spool_backlog, state, status_interval_ms FROM devices ORDER BY device_id",
    )
    .fetch_all(s.store.pool())
    .await?;
    let now = now_ms();
    let timeout_ms = (s.config.devices.offline_after_s * 1000.0) as i64;
    let mut online_n = 0;
    let out: Vec<Value> = rows
        .iter()
        .map(|r| {
            let last = int(r, "last_seen_ms");
            let state = text(r, "state");
            let online = now - last <= timeout_ms && state.as_deref() != Some("stopping");
            online_n += i64::from(online);
            let ms = |v: i64| humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(v.max(0) as u64)).to_string();
            json!({
                "device_id": text(r, "device_id"),
                "online": online,
                "state": if online { "online" } else if state.as_deref() == Some("stopping") { "stopped" } else { "offline" },
                "first_seen": ms(int(r, "first_seen_ms")),
                "last_seen": ms(last),
                "events": int(r, "events"),
                "version": text(r, "version"),
                "pipeline": text(r, "pipeline"),
                "streams": text(r, "streams").and_then(|t| serde_json::from_str::<Value>(&t).ok()).unwrap_or(json!({})),
                "spool_backlog": r.try_get::<i64, _>("spool_backlog").ok(),
            })
        })
        .collect();
    s.metrics.devices_online.set(online_n);
    s.metrics.devices_known.set(out.len() as i64);
    Ok(out)
}

/// `GET /devices`.
async fn devices(State(s): Shared, Query(q): Query<HashMap<String, String>>) -> ApiResult {
    Params::of(q, &[])?;
    json_response(json!({ "devices": device_list(&s).await? }))
}

/// `GET /alerts?acknowledged=true|false`.
async fn alerts(State(s): Shared, Query(q): Query<HashMap<String, String>>) -> ApiResult {
    let p = Params::of(q, &["acknowledged", "limit"])?;
    let max = s.config.http.max_page_size;
    let limit = p.number("limit", max)?.unwrap_or(max.min(100));
    let mut f = Filter::default();
    if let Some(a) = p.boolean("acknowledged")? {
        f.push("acknowledged = ?", [Bind::Int(i64::from(a))]);
    }
    let sql = format!(
        "SELECT id, rule, event_id, device_id, stream_id, ts_ms, created_ms, detail, acknowledged,
            acknowledged_ms FROM alerts {} ORDER BY id DESC LIMIT {limit}",
        f.sql()
    );
    let rows = f.query(&sql).fetch_all(s.store.pool()).await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "id": int(r, "id"),
                "rule": text(r, "rule"),
                "event_id": text(r, "event_id"),
                "device_id": text(r, "device_id"),
                "stream_id": text(r, "stream_id"),
                "ts_ms": int(r, "ts_ms"),
                "created_ms": int(r, "created_ms"),
                "detail": text(r, "detail").and_then(|t| serde_json::from_str::<Value>(&t).ok()),
                "acknowledged": int(r, "acknowledged") != 0,
                "acknowledged_ms": r.try_get::<i64, _>("acknowledged_ms").ok(),
            })
        })
        .collect();
    json_response(json!({ "alerts": list }))
}

/// `POST /alerts/{id}/acknowledge`.
async fn acknowledge(State(s): Shared, Path(id): Path<String>) -> ApiResult {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::param("id", format!("{id:?} is not an alert id")))?;
    let done = sqlx::query(
        "UPDATE alerts SET acknowledged = 1, acknowledged_ms = $2 WHERE id = $1 AND acknowledged = 0",
    )
    .bind(id)
    .bind(now_ms())
    .execute(s.store.pool())
    .await?;
    if done.rows_affected() == 0 {
        let exists = sqlx::query("SELECT id FROM alerts WHERE id = $1")
            .bind(id)
            .fetch_optional(s.store.pool())
            .await?;
        if exists.is_none() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no alert {id}"),
            ));
        }
    }
    json_response(json!({ "id": id, "acknowledged": true }))
}

/// `GET /dead_letters`: the newest messages that were not events, with their reason.
async fn dead_letters(State(s): Shared, Query(q): Query<HashMap<String, String>>) -> ApiResult {
    let p = Params::of(q, &["limit"])?;
    let max = s.config.http.max_page_size;
    let limit = p.number("limit", max)?.unwrap_or(max.min(100));
    let rows = sqlx::query(&format!(
        "SELECT id, reason, topic, kpartition, koffset, size, bytes, received_ms FROM dead_letters
         ORDER BY id DESC LIMIT {limit}"
    ))
    .fetch_all(s.store.pool())
    .await?;
    let list: Vec<Value> = rows
        .iter()
        .map(|r| {
            let bytes: Vec<u8> = r.try_get("bytes").unwrap_or_default();
            json!({
                "id": int(r, "id"),
                "reason": text(r, "reason"),
                "topic": text(r, "topic"),
                "partition": int(r, "kpartition"),
                "offset": int(r, "koffset"),
                "size": int(r, "size"),
                "bytes": String::from_utf8_lossy(&bytes),
                "received_ms": int(r, "received_ms"),
            })
        })
        .collect();
    json_response(json!({ "dead_letters": list }))
}

/// `GET /health`: 200 when the store answers and takes the consumer's batches, else 503.
async fn health(State(s): Shared) -> Response {
    if s.store_failing.load(std::sync::atomic::Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "degraded", "store": "the store refuses the consumer's batches (see the log)" })),
        )
            .into_response();
    }
    match s.store.ping().await {
        Ok(()) => axum::Json(json!({ "status": "ok", "store": "ok" })).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "degraded", "store": e.to_string() })),
        )
            .into_response(),
    }
}

/// `GET /metrics`.
async fn metrics(State(s): Shared) -> Response {
    let _ = device_list(&s).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

/// A clip or a snapshot.
#[derive(Clone, Copy)]
enum Upload {
    Clip,
    Snapshot,
}

impl Upload {
    fn name(self) -> &'static str {
        match self {
            Upload::Clip => "clip",
            Upload::Snapshot => "snapshot",
        }
    }
    fn limit(self, s: &AppState) -> usize {
        match self {
            Upload::Clip => s.config.uploads.max_clip_bytes,
            Upload::Snapshot => s.config.uploads.max_snapshot_bytes,
        }
    }
}

fn upload_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::param(
            "id",
            "must be 1–128 letters, digits, `-`, `_` or `.`, not starting with `.`",
        ))
    }
}

async fn put_clip(
    st: Shared,
    id: Path<String>,
    q: Query<HashMap<String, String>>,
    h: HeaderMap,
    body: Body,
) -> ApiResult {
    put_upload(st, Upload::Clip, id, q, h, body).await
}
async fn put_snapshot(
    st: Shared,
    id: Path<String>,
    q: Query<HashMap<String, String>>,
    h: HeaderMap,
    body: Body,
) -> ApiResult {
    put_upload(st, Upload::Snapshot, id, q, h, body).await
}
async fn get_clip(st: Shared, id: Path<String>) -> ApiResult {
    get_upload(st, Upload::Clip, id).await
}
async fn get_snapshot(st: Shared, id: Path<String>) -> ApiResult {
    get_upload(st, Upload::Snapshot, id).await
}

/// Numbers the partial files of uploads in flight.
static PART_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A partial upload, removed when dropped (after the rename there is nothing to remove).
struct PartFile(std::path::PathBuf);

impl Drop for PartFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `PUT /clips/{id}?event_id=...`: streamed to a temporary file, kept when complete and
/// within the limit.
async fn put_upload(
    State(s): Shared,
    kind: Upload,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    upload_id(&id)?;
    let p = Params::of(q, &["event_id"])?;
    let event_id = p.text("event_id")?;
    let limit = kind.limit(&s);
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "a {} may be at most {limit} bytes (`uploads.max_{}_bytes`)",
                kind.name(),
                kind.name()
            ),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        && len > limit
    {
        return Err(too_large());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let dir = std::path::Path::new(&s.config.uploads.dir).join(format!("{}s", kind.name()));
    let io = |e: std::io::Error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write the upload: {e}"),
        )
    };
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    let path = dir.join(&id);
    // Each request its own partial file, removed unless it becomes the upload (also when the
    // client goes away and this handler is dropped).
    let part = PartFile(dir.join(format!(
        ".{id}.{}.part",
        PART_SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )));
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&part.0)
        .await
        .map_err(io)?;
    let mut stream = body.into_data_stream();
    let mut bytes = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            if e.to_string().contains("length limit") {
                too_large()
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("the upload broke off: {e}"),
                )
            }
        })?;
        bytes += chunk.len();
        if bytes > limit {
            return Err(too_large());
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.sync_all().await.map_err(io)?;
    drop(file);
    tokio::fs::rename(&part.0, &path).await.map_err(io)?;
    sqlx::query(
        "INSERT INTO uploads (kind, upload_id, event_id, path, bytes, content_type, created_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (kind, upload_id) DO UPDATE SET event_id = excluded.event_id, path = excluded.path,
            bytes = excluded.bytes, content_type = excluded.content_type, created_ms = excluded.created_ms",
    )
    .bind(kind.name())
    .bind(&id)
    .bind(event_id.clone())
    .bind(path.display().to_string())
    .bind(bytes as i64)
    .bind(&content_type)
    .bind(now_ms())
    .execute(s.store.pool())
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "id": id, "kind": kind.name(), "bytes": bytes, "event_id": event_id })),
    )
        .into_response())
}

/// `GET /clips/{id}`: the bytes, with their content type and event id.
async fn get_upload(State(s): Shared, kind: Upload, Path(id): Path<String>) -> ApiResult {
    upload_id(&id)?;
    let row = sqlx::query(
        "SELECT path, content_type, event_id FROM uploads WHERE kind = $1 AND upload_id = $2",
    )
    .bind(kind.name())
    .bind(&id)
    .fetch_optional(s.store.pool())
    .await?
    .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no {} {id:?}", kind.name())))?;
    let path: String = row.try_get("path")?;
    let data = tokio::fs::read(&path).await.map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("the {} file is gone: {e}", kind.name()),
        )
    })?;
    let mut r = (StatusCode::OK, data).into_response();
    if let Some(ct) =
        text(&row, "content_type").and_then(|c| header::HeaderValue::from_str(&c).ok())
    {
        r.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    if let Some(e) = text(&row, "event_id").and_then(|c| header::HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert("x-event-id", e);
    }
    Ok(r)
}

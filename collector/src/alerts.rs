//! Alert rules: which stored events fire them, the alert rows (one per rule and event, in the
//! transaction that stores the event) and the webhook outbox a notifier drains with retries.

use std::sync::Arc;
use std::time::Duration;

use edgeflow_events::Body;
use sqlx::Row as _;

use crate::config::AlertRule;
use crate::metrics::Metrics;
use crate::record::Row;
use crate::store::{Backend, Store, StoreError, lock_key, now_ms};

/// The configured rules.
#[derive(Clone, Debug, Default)]
pub struct Rules(pub Vec<AlertRule>);

impl Rules {
    /// The rules whose filters `row` passes (the count window is checked by [`fire`]).
    pub fn matching<'a>(&'a self, row: &'a Row) -> impl Iterator<Item = &'a AlertRule> + 'a {
        self.0.iter().filter(move |r| passes(r, row))
    }
}

/// Whether `row` passes every filter of `rule`.
pub fn passes(rule: &AlertRule, row: &Row) -> bool {
    if rule.kind != row.kind {
        return false;
    }
    let same = |want: &Option<String>, have: &Option<String>| {
        want.as_ref().is_none_or(|w| have.as_deref() == Some(w))
    };
    if !same(&rule.event_type, &row.event_type) || !same(&rule.zone_id, &row.zone_id) {
        return false;
    }
    if let Some(class) = &rule.class {
        let has = match &row.event.body {
            Body::Detections(s) | Body::Tracks(s) => s
                .detections
                .iter()
                .chain(s.faces.iter().flatten())
                .any(|b| &b.class == class),
            _ => row.class.as_deref() == Some(class),
        };
        if !has {
            return false;
        }
    }
    if let Some(min) = rule.min_dwell_s
        && row.dwell_s.is_none_or(|d| d < min)
    {
        return false;
    }
    if let Some(min) = rule.min_persons
        && row.persons.is_none_or(|p| (p as u64) < min)
    {
        return false;
    }
    true
}

/// Store an alert of `rule` for the new event `row` (and its webhook delivery) when the
/// rule's count window, if any, is reached; whether one was stored.
pub(crate) async fn fire(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    rule: &AlertRule,
    row: &Row,
    now: i64,
) -> Result<bool, StoreError> {
    let mut detail = serde_json::json!({});
    if let (Some(min), Some(window_s)) = (rule.min_count, rule.window_s) {
        let window_ms = (window_s * 1000.0) as i64;
        let since = row.ts_ms - window_ms;
        if backend == Backend::Postgres {
            // Collectors sharing PostgreSQL count one rule and device one at a time, so two
            // transactions cannot both miss or both fire the window.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(lock_key(&[&rule.name, &row.event.device_id]))
                .execute(&mut **tx)
                .await?;
        }
        // Events of this device in the window passing the rule's column filters. A class
        // filter on detections reads inside the boxes: there it is the payload's text.
        let class = rule.class.clone().unwrap_or_default();
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM events WHERE device_id = $1 AND kind = $2
                AND ts_ms > $3 AND ts_ms <= $4
                AND ($5 = '' OR event_type = $5) AND ($6 = '' OR zone_id = $6)
                AND ($7 = '' OR class = $7 OR (class IS NULL AND payload LIKE $8))
                AND ($9 < 0 OR dwell_ms >= $9) AND ($10 < 0 OR persons >= $10)",
        )
        .bind(&row.event.device_id)
        .bind(&rule.kind)
        .bind(since)
        .bind(row.ts_ms)
        .bind(rule.event_type.clone().unwrap_or_default())
        .bind(rule.zone_id.clone().unwrap_or_default())
        .bind(class.clone())
        .bind(format!(
            "%\"class\":\"{}\"%",
            class.replace(['%', '_', '"'], "")
        ))
        .bind(rule.min_dwell_s.map_or(-1, |d| (d * 1000.0).round() as i64))
        .bind(rule.min_persons.map_or(-1, |p| p as i64))
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
        if (n as u64) < min {
            return Ok(false);
        }
        // Once per window and device.
        let recent: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM alerts WHERE rule = $1 AND device_id = $2 AND ts_ms > $3",
        )
        .bind(&rule.name)
        .bind(&row.event.device_id)
        .bind(since)
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
        if recent > 0 {
            return Ok(false);
        }
        detail = serde_json::json!({ "count": n, "window_s": window_s });
    }
    let detail = detail.to_string();
    let done = sqlx::query(
        "INSERT INTO alerts (rule, event_id, device_id, stream_id, ts_ms, created_ms, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (rule, event_id) DO NOTHING",
    )
    .bind(&rule.name)
    .bind(&row.event.event_id)
    .bind(&row.event.device_id)
    .bind(&row.event.stream_id)
    .bind(row.ts_ms)
    .bind(now)
    .bind(&detail)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    if let Some(url) = &rule.webhook {
        let id: i64 = sqlx::query("SELECT id FROM alerts WHERE rule = $1 AND event_id = $2")
            .bind(&rule.name)
            .bind(&row.event.event_id)
            .fetch_one(&mut **tx)
            .await?
            .try_get("id")?;
        let event: serde_json::Value =
            serde_json::from_str(&row.json).unwrap_or(serde_json::Value::Null);
        let body = serde_json::json!({
            "alert_id": id,
            "rule": rule.name,
            "detail": serde_json::from_str::<serde_json::Value>(&detail).unwrap_or_default(),
            "event": event,
        })
        .to_string();
        sqlx::query("INSERT INTO outbox (alert_id, url, body, next_ms) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(url)
            .bind(body)
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(true)
}

/// An HTTP client for webhooks: rustls with the ring provider and the system's roots.
fn agent() -> ureq::Agent {
    let roots: Vec<ureq::tls::Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// Deliver the outbox until `stop`: each due alert is POSTed; a failure is retried with a
/// backoff (1 s doubling to 60 s), and the outbox survives restarts.
pub async fn notify(
    store: Store,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let agent = agent();
    loop {
        if *stop.borrow() {
            return;
        }
        let due = sqlx::query(
            "SELECT id, url, body, attempts, next_ms FROM outbox
             WHERE delivered_ms IS NULL AND next_ms <= $1 ORDER BY id LIMIT 50",
        )
        .bind(now_ms())
        .fetch_all(store.pool())
        .await;
        let due = match due {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the webhook outbox; trying again");
                Vec::new()
            }
        };
        for row in due {
            let (Ok(id), Ok(url), Ok(body), Ok(attempts), Ok(due_ms)) = (
                row.try_get::<i64, _>("id"),
                row.try_get::<String, _>("url"),
                row.try_get::<String, _>("body"),
                row.try_get::<i64, _>("attempts"),
                row.try_get::<i64, _>("next_ms"),
            ) else {
                continue;
            };
            // Claim it: of several collectors on one store, one sends it (the others find
            // `next_ms` moved). An unanswered claim is taken again after a minute.
            let claimed = sqlx::query(
                "UPDATE outbox SET next_ms = $3 WHERE id = $1 AND next_ms = $2 AND delivered_ms IS NULL",
            )
            .bind(id)
            .bind(due_ms)
            .bind(now_ms() + 60_000)
            .execute(store.pool())
            .await;
            if !matches!(claimed, Ok(ref r) if r.rows_affected() == 1) {
                continue;
            }
            let a = agent.clone();
            let sent = tokio::task::spawn_blocking(move || {
                match a
                    .post(&url)
                    .header("content-type", "application/json")
                    .send(body.as_bytes())
                {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("HTTP {}", r.status())),
                    Err(e) => Err(e.to_string()),
                }
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
            let now = now_ms();
            let update = match &sent {
                Ok(()) => {
                    metrics.webhook.with_label_values(&["delivered"]).inc();
                    sqlx::query("UPDATE outbox SET delivered_ms = $2, attempts = attempts + 1 WHERE id = $1")
                        .bind(id)
                        .bind(now)
                }
                Err(e) => {
                    metrics.webhook.with_label_values(&["failed"]).inc();
                    tracing::warn!(alert = id, error = %e, attempt = attempts + 1, "alert webhook failed; retrying");
                    let backoff = (1000i64 << attempts.clamp(0, 6)).min(60_000);
                    sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_ms = $2, last_error = $3 WHERE id = $1")
                        .bind(id)
                        .bind(now + backoff)
                        .bind(e.clone())
                }
            };
            if let Err(e) = update.execute(store.pool()).await {
                tracing::warn!(error = %e, "cannot update the webhook outbox");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = stop.changed() => {}
        }
    }
}

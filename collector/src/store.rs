//! The event store: SQLite (embedded, WAL) or PostgreSQL through sqlx's `Any` driver, one
//! set of queries for both. Events are unique by `event_id`: a batch is written in one
//! transaction, duplicates are dropped by the database, and what a new event triggers
//! (its device's registry row, alerts, their webhook outbox) is written in the same
//! transaction, so a crash between them cannot happen.

use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, AnyRow};

use crate::alerts::{self, Rules};
use crate::record::{DeadLetter, Row};

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:`.
    Sqlite,
    /// `postgres://` or `postgresql://`.
    Postgres,
}

impl Backend {
    /// The backend of `url`, if it is one of ours.
    pub fn of(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// A store error.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no database this collector knows.
    #[error("`store.url` {0:?} is neither `sqlite:...` nor `postgres://...`")]
    Url(String),
    /// The database refused or is away.
    #[error("store: {0}")]
    Db(#[from] sqlx::Error),
}

/// Fractions are kept as integer milliseconds: sqlx's `Any` driver binds floats to
/// PostgreSQL in a format it refuses.
///
impl StoreError {
    /// Whether the database refused the data itself (a value it can never store), not the
    /// connection: retrying the same rows cannot succeed. PostgreSQL's SQLSTATE classes 22
    /// (data exception), 23 (integrity) and 54 (program limit, e.g. an index row too large);
    /// SQLite's `SQLITE_TOOBIG` and `SQLITE_CONSTRAINT`.
    pub fn is_refusal(&self) -> bool {
        let StoreError::Db(sqlx::Error::Database(e)) = self else {
            return false;
        };
        let code = e.code().map(|c| c.to_string()).unwrap_or_default();
        match code.parse::<u32>() {
            // SQLite's (extended) result codes: the primary code is the low byte.
            Ok(n) if code.len() < 5 => matches!(n & 0xff, 18 | 19),
            _ => ["22", "23", "54"].iter().any(|c| code.starts_with(c)),
        }
    }
}

/// A 63-bit key for PostgreSQL's advisory locks (FNV-1a over `parts`).
pub(crate) fn lock_key(parts: &[&str]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    (h >> 1) as i64
}

/// The schema, in order; each is applied once and recorded in `collector_migrations`.
/// `{id}` is the auto-increment key, `{blob}` the bytes type of the backend.
const MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "events, dead letters, devices, alerts, webhook outbox, uploads",
    "CREATE TABLE events (
        id {id},
        event_id TEXT NOT NULL UNIQUE,
        device_id TEXT NOT NULL,
        stream_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        seq BIGINT NOT NULL,
        ts_ms BIGINT NOT NULL,
        zone_id TEXT,
        event_type TEXT,
        class TEXT,
        direction TEXT,
        dwell_ms BIGINT,
        persons BIGINT,
        track_id BIGINT,
        topic TEXT NOT NULL,
        kpartition BIGINT NOT NULL,
        koffset BIGINT NOT NULL,
        received_ms BIGINT NOT NULL,
        payload TEXT NOT NULL
    );
    CREATE INDEX events_ts ON events (ts_ms, id);
    CREATE INDEX events_device ON events (device_id, ts_ms);
    CREATE INDEX events_kind ON events (kind, ts_ms);
    CREATE TABLE dead_letters (
        id {id},
        reason TEXT NOT NULL,
        topic TEXT NOT NULL,
        kpartition BIGINT NOT NULL,
        koffset BIGINT NOT NULL,
        size BIGINT NOT NULL,
        bytes {blob} NOT NULL,
        received_ms BIGINT NOT NULL,
        UNIQUE (topic, kpartition, koffset)
    );
    CREATE TABLE devices (
        device_id TEXT PRIMARY KEY,
        first_seen_ms BIGINT NOT NULL,
        last_seen_ms BIGINT NOT NULL,
        events BIGINT NOT NULL,
        version TEXT,
        pipeline TEXT,
        streams TEXT,
        spool_backlog BIGINT,
        state TEXT,
        status_interval_ms BIGINT
    );
    CREATE TABLE alerts (
        id {id},
        rule TEXT NOT NULL,
        event_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        stream_id TEXT NOT NULL,
        ts_ms BIGINT NOT NULL,
        created_ms BIGINT NOT NULL,
        detail TEXT NOT NULL,
        acknowledged BIGINT NOT NULL DEFAULT 0,
        acknowledged_ms BIGINT,
        UNIQUE (rule, event_id)
    );
    CREATE TABLE outbox (
        id {id},
        alert_id BIGINT NOT NULL,
        url TEXT NOT NULL,
        body TEXT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        next_ms BIGINT NOT NULL,
        delivered_ms BIGINT,
        last_error TEXT
    );
    CREATE INDEX outbox_due ON outbox (delivered_ms, next_ms);
    CREATE TABLE uploads (
        kind TEXT NOT NULL,
        upload_id TEXT NOT NULL,
        event_id TEXT,
        path TEXT NOT NULL,
        bytes BIGINT NOT NULL,
        content_type TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        PRIMARY KEY (kind, upload_id)
    )",
)];

/// What writing one batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// New events stored.
    pub stored: u64,
    /// Events already there (same `event_id`).
    pub duplicates: u64,
    /// Messages dead-lettered.
    pub dead: u64,
    /// Alerts fired, by rule.
    pub alerts: Vec<String>,
    /// What each new event was, for the metrics.
    pub kinds: Vec<StoredKind>,
}

/// A stored event's kind and, for zone events, its zone, type and direction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredKind {
    /// `kind`.
    pub kind: String,
    /// The zone or line.
    pub zone_id: Option<String>,
    /// `enter`, `exit`, `dwell`, `line_cross`.
    pub event_type: Option<String>,
    /// A crossing's direction.
    pub direction: Option<String>,
}

/// The store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// Milliseconds since 1970, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Connect to `url` (a SQLite file is made if missing) and bring the schema up to date.
    pub async fn open(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of(url).ok_or_else(|| StoreError::Url(url.to_string()))?;
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA busy_timeout = 5000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA synchronous = NORMAL")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for queries of the API.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // Collectors starting together on one empty PostgreSQL: one migrates, the others wait
        // for it and find the work done.
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(lock_key(&["edgeflow-collector-migrations"]))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS collector_migrations (
                version BIGINT PRIMARY KEY, description TEXT NOT NULL, applied_ms BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        let (id, blob) = match self.backend {
            Backend::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
            Backend::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA"),
        };
        for (version, description, sql) in MIGRATIONS {
            let done: Option<AnyRow> =
                sqlx::query("SELECT version FROM collector_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_some() {
                continue;
            }
            for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                let statement = statement.replace("{id}", id).replace("{blob}", blob);
                sqlx::query(&statement).execute(&mut *tx).await?;
            }
            sqlx::query(
                "INSERT INTO collector_migrations (version, description, applied_ms) VALUES ($1, $2, $3)",
            )
            .bind(*version)
            .bind(*description)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            tracing::info!(version, description, "store schema migrated");
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Store `rows` and `dead` in one transaction; new events update their device and fire
    /// `rules`. Either everything is written or nothing is.
    pub async fn write(
        &self,
        rows: &[Row],
        dead: &[DeadLetter],
        rules: &Rules,
    ) -> Result<Written, StoreError> {
        let now = now_ms();
        let mut out = Written::default();
        let mut tx = self.pool.begin().await?;
        for r in rows {
            self.insert(&mut tx, r, rules, now, &mut out).await?;
        }
        for d in dead {
            let done = sqlx::query(
                "INSERT INTO dead_letters (reason, topic, kpartition, koffset, size, bytes, received_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (topic, kpartition, koffset) DO NOTHING",
            )
            .bind(&d.reason)
            .bind(&d.at.topic)
            .bind(i64::from(d.at.partition))
            .bind(d.at.offset)
            .bind(d.size as i64)
            .bind(d.bytes.clone())
            .bind(now)
            .execute(&mut *tx)
            .await?;
            out.dead += done.rows_affected();
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Insert `r` unless its `event_id` is stored; a new one updates its device and fires
    /// `rules`.
    async fn insert(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        r: &Row,
        rules: &Rules,
        now: i64,
        out: &mut Written,
    ) -> Result<(), StoreError> {
        let e = &r.event;
        let done = sqlx::query(
            "INSERT INTO events (event_id, device_id, stream_id, kind, seq, ts_ms, zone_id,
                event_type, class, direction, dwell_ms, persons, track_id, topic, kpartition,
                koffset, received_ms, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&e.event_id)
        .bind(&e.device_id)
        .bind(&e.stream_id)
        .bind(&r.kind)
        .bind(e.seq as i64)
        .bind(r.ts_ms)
        .bind(r.zone_id.clone())
        .bind(r.event_type.clone())
        .bind(r.class.clone())
        .bind(r.direction.clone())
        .bind(r.dwell_s.map(|d| (d * 1000.0).round() as i64))
        .bind(r.persons)
        .bind(r.track_id)
        .bind(&r.at.topic)
        .bind(i64::from(r.at.partition))
        .bind(r.at.offset)
        .bind(now)
        .bind(&r.json)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 0 {
            out.duplicates += 1;
            return Ok(());
        }
        out.stored += 1;
        out.kinds.push(StoredKind {
            kind: r.kind.clone(),
            zone_id: r.zone_id.clone(),
            event_type: r.event_type.clone(),
            direction: r.direction.clone(),
        });
        self.touch_device(tx, r, now).await?;
        for rule in rules.matching(r) {
            if alerts::fire(tx, self.backend, rule, r, now).await? {
                out.alerts.push(rule.name.clone());
            }
        }
        Ok(())
    }

    /// Write `row` alone in a transaction that is rolled back: whether the store takes it.
    pub async fn try_alone(&self, row: &Row, rules: &Rules) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        self.insert(&mut tx, row, rules, now_ms(), &mut Written::default())
            .await?;
        tx.rollback().await?;
        Ok(())
    }

    async fn touch_device(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        r: &Row,
        now: i64,
    ) -> Result<(), StoreError> {
        let device = &r.event.device_id;
        sqlx::query(
            "INSERT INTO devices (device_id, first_seen_ms, last_seen_ms, events)
             VALUES ($1, $2, $2, 1)
             ON CONFLICT (device_id) DO UPDATE SET
                last_seen_ms = CASE WHEN excluded.last_seen_ms > devices.last_seen_ms
                    THEN excluded.last_seen_ms ELSE devices.last_seen_ms END,
                events = devices.events + 1",
        )
        .bind(device)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if let edgeflow_events::Body::DeviceStatus(s) = &r.event.body {
            let streams = serde_json::to_string(&s.streams).unwrap_or_else(|_| "{}".into());
            let state = serde_json::to_value(s.state)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            sqlx::query(
                "UPDATE devices SET version = $2, pipeline = $3, streams = $4, spool_backlog = $5,
                    state = $6, status_interval_ms = $7 WHERE device_id = $1",
            )
            .bind(device)
            .bind(&s.version)
            .bind(&s.pipeline)
            .bind(streams)
            .bind(s.spool_backlog as i64)
            .bind(state)
            .bind((s.interval_s * 1000.0).round() as i64)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AlertRule;
    use crate::record::{Incoming, Position, read};

    fn row(id: &str, ts_s: u64, event_type: &str) -> Row {
        row_of(id, ts_s, event_type, "person")
    }

    fn row_of(id: &str, ts_s: u64, event_type: &str, class: &str) -> Row {
        let json = format!(
            r#"{{"schema_version":1,"event_id":"{id}","device_id":"d","stream_id":"s","seq":1,"pts_ns":0,"timestamp":"2026-12-01T10:00:{ts_s:02}Z","kind":"zone_event","zone_id":"door","event_type":"{event_type}","track_id":1,"class":"{class}"}}"#
        );
        let at = Position {
            topic: "t".into(),
            partition: 0,
            offset: 0,
        };
        read(
            Incoming {
                at,
                payload: json.into_bytes(),
            },
            1 << 20,
            64,
        )
        .unwrap()
    }

    fn rule(min_count: u64, window_s: f64) -> AlertRule {
        AlertRule {
            name: "crowd".into(),
            kind: "zone_event".into(),
            event_type: Some("enter".into()),
            zone_id: Some("door".into()),
            class: None,
            min_dwell_s: None,
            min_persons: None,
            min_count: Some(min_count),
            window_s: Some(window_s),
            webhook: None,
        }
    }

    #[tokio::test]
    async fn duplicates_are_dropped_and_a_count_rule_fires_once_per_window() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = Store::open(&url, 2).await.unwrap();
        let rules = Rules(vec![rule(3, 10.0)]);
        let batch: Vec<Row> = (0..5).map(|i| row(&format!("e{i}"), i, "enter")).collect();
        let w = store.write(&batch, &[], &rules).await.unwrap();
        assert_eq!((w.stored, w.duplicates), (5, 0));
        // The third enter within 10 s fires; the 4th and 5th fall in the same window.
        assert_eq!(w.alerts, vec!["crowd".to_string()]);
        let w = store.write(&batch[..2], &[], &rules).await.unwrap();
        assert_eq!((w.stored, w.duplicates), (0, 2));
        assert!(w.alerts.is_empty());
        // An exit does not count; a later window fires again.
        let later: Vec<Row> = (30..33)
            .map(|i| row(&format!("l{i}"), i, "enter"))
            .collect();
        let mut with_exit = vec![row("x", 29, "exit")];
        with_exit.extend(later);
        let w = store.write(&with_exit, &[], &rules).await.unwrap();
        assert_eq!(w.alerts.len(), 1);
        // A class rule counts only its class: one car among persons is not two cars.
        let cars = Rules(vec![AlertRule {
            name: "cars".into(),
            class: Some("car".into()),
            ..rule(2, 60.0)
        }]);
        let w = store
            .write(
                &[row("p1", 40, "enter"), row_of("c1", 41, "enter", "car")],
                &[],
                &cars,
            )
            .await
            .unwrap();
        assert!(w.alerts.is_empty(), "{:?}", w.alerts);
        let w = store
            .write(&[row_of("c2", 42, "enter", "car")], &[], &cars)
            .await
            .unwrap();
        assert_eq!(w.alerts, vec!["cars".to_string()]);
        // Opening again runs no migration twice.
        drop(store);
        let store = Store::open(&url, 1).await.unwrap();
        store.ping().await.unwrap();
    }

    #[tokio::test]
    async fn a_url_of_another_database_is_refused() {
        let e = Store::open("mysql://x", 1).await.unwrap_err();
        assert!(e.to_string().contains("neither"), "{e}");
    }
}

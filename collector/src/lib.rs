//! # edgeflow-collector
//!
//! The cloud half of edgeflow: `edgeflow collect --config collector.toml` consumes the events
//! edge devices publish to Kafka (as one member of a consumer group, so collectors scale out
//! by partitions), stores each once (unique `event_id`, SQLite by default, PostgreSQL as an
//! option), keeps a device registry from `device_status` events, fires alert rules (a webhook
//! through a durable outbox), and serves REST and Prometheus metrics.
//!
//! Offsets are committed only after the batch they cover is stored: a crash or a store outage
//! replays, and the store drops the replayed duplicates. Messages that are not events go to a
//! dead-letter table with their reason and position; they never stop the consumer.
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let text = std::fs::read_to_string("collector.toml")?;
//! let (config, _warnings) = edgeflow_collector::load("collector.toml", &text)
//!     .map_err(|d| d.render(false))?;
//! let running = edgeflow_collector::Collector::start(config)?;
//! println!("serving on http://{}", running.addr());
//! running.stop();
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod alerts;
pub mod api;
pub mod config;
pub mod consume;
pub mod metrics;
pub mod record;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

pub use config::{CollectorConfig, load};

/// Why the collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    /// The store could not be opened or migrated.
    #[error("cannot open the store {url:?}: {source}")]
    Store {
        /// `store.url`, without its password.
        url: String,
        /// What the database said.
        source: store::StoreError,
    },
    /// The HTTP address could not be bound.
    #[error("cannot listen on {addr}: {source} (is another collector running? set `http.listen`)")]
    Listen {
        /// `http.listen`.
        addr: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The Kafka consumer could not be made.
    #[error("{0} (check `[kafka]`)")]
    Kafka(#[from] consume::ConsumeError),
    /// The metrics could not be registered.
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// `Collector::start` was called from async code.
    #[error("the collector runs its own runtime: start it from plain (not async) code")]
    InsideRuntime,
    /// `http.token_env` names a variable that is unset or empty.
    #[error(
        "`http.token_env` names {0:?}, which is unset or empty: set it, or remove `token_env` to serve without a token"
    )]
    Token(String),
    /// The uploads directory could not be made.
    #[error("cannot make `uploads.dir` {dir:?}: {source}")]
    Uploads {
        /// The directory.
        dir: String,
        /// What the system said.
        source: std::io::Error,
    },
}

/// A running collector.
pub struct Collector {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    stop_tx: tokio::sync::watch::Sender<bool>,
    consumer: Option<JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    metrics: Arc<metrics::Metrics>,
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Collector {
    /// Open the store (running its migrations), bind the API, start the notifier and join
    /// the consumer group.
    ///
    /// It runs its own runtime: call it from plain (not async) code.
    pub fn start(config: CollectorConfig) -> Result<Collector, StartError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(StartError::InsideRuntime);
        }
        // A token that should be there and is not must not leave the API open.
        let token = match (&config.http.token_env, config.http.token()) {
            (Some(var), None) => return Err(StartError::Token(var.clone())),
            (_, t) => t,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ef-collector")
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let metrics = Arc::new(metrics::Metrics::new()?);
        let store = runtime
            .block_on(store::Store::open(
                &config.store.url,
                config.store.max_connections,
            ))
            .map_err(|source| StartError::Store {
                url: redact(&config.store.url),
                source,
            })?;
        std::fs::create_dir_all(&config.uploads.dir).map_err(|source| StartError::Uploads {
            dir: config.uploads.dir.clone(),
            source,
        })?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(&config.http.listen))
            .map_err(|source| StartError::Listen {
                addr: config.http.listen.clone(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: config.http.listen.clone(),
            source,
        })?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let failing = Arc::new(AtomicBool::new(false));
        let state = Arc::new(api::AppState {
            store: store.clone(),
            metrics: metrics.clone(),
            token,
            config: config.clone(),
            store_failing: failing.clone(),
        });
        let app = api::router(state);
        let mut shutdown = stop_rx.clone();
        runtime.spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|s| *s).await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "the HTTP service stopped");
            }
        });
        runtime.spawn(alerts::notify(store.clone(), metrics.clone(), stop_rx));
        let consumer = consume::subscribe(
            &config.kafka,
            config.store.dead_letter_bytes,
            metrics.clone(),
        )?;
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let (stop, metrics, rt) = (stop.clone(), metrics.clone(), runtime.handle().clone());
            let rules = alerts::Rules(config.alerts.clone());
            std::thread::Builder::new()
                .name("ef-consume".into())
                .spawn(move || consumer.run(&store, &rules, &metrics, &rt, &stop, &failing))
                .map_err(StartError::Runtime)?
        };
        tracing::info!(%addr, store = %redact(&config.store.url), group = %config.kafka.group_id,
            topics = ?config.kafka.topics, "collector started");
        Ok(Collector {
            addr,
            stop,
            stop_tx,
            consumer: Some(handle),
            runtime: Some(runtime),
            metrics,
        })
    }

    /// The address the API listens on (`http.listen`, its port resolved).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// Whether the consumer has stopped (it stops only when asked).
    pub fn consumer_finished(&self) -> bool {
        self.consumer.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Stop: the consumer finishes the batch in hand (stored and committed, or, while the
    /// store refuses it, left uncommitted for the next member to read again), leaves the
    /// group, and the API and the notifier stop.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.consumer.take() {
            let _ = h.join();
        }
        let _ = self.stop_tx.send(true);
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://ef:secret@127.0.0.1:5432/db"),
            "postgres://ef:***@127.0.0.1:5432/db"
        );
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
    }
}

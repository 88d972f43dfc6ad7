//! The Kafka side: one consumer in the group, reading batches, storing each in one
//! transaction and committing its offsets only after it is stored (at-least-once; the store's
//! unique `event_id` makes the result exactly-once). A batch the store refuses is retried, its
//! offsets uncommitted, until the store is back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::{Offset, TopicPartitionList};

use crate::alerts::Rules;
use crate::config::KafkaConfig;
use crate::metrics::Metrics;
use crate::record::{self, Incoming, Position};
use crate::store::Store;

/// A consumer error.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// librdkafka refused the configuration or the subscription.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// Rebalances in the log, lag into the metrics.
struct Context {
    metrics: Arc<Metrics>,
}

impl ClientContext for Context {
    fn stats(&self, stats: Statistics) {
        for (topic, t) in &stats.topics {
            for (id, p) in &t.partitions {
                if *id < 0 {
                    continue;
                }
                let lag = self
                    .metrics
                    .lag
                    .with_label_values(&[topic, &id.to_string()]);
                lag.set(p.consumer_lag.max(0));
            }
        }
    }
}

impl ConsumerContext for Context {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                self.metrics.assigned.set(tpl.count() as i64);
                tracing::info!(partitions = %names(tpl), "partitions assigned");
            }
            Rebalance::Revoke(tpl) => {
                self.metrics.assigned.set(0);
                self.metrics.lag.reset();
                tracing::info!(partitions = %names(tpl), "partitions revoked");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance failed"),
        }
    }
}

fn names(tpl: &TopicPartitionList) -> String {
    tpl.elements()
        .iter()
        .map(|e| format!("{}/{}", e.topic(), e.partition()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The consumer, subscribed.
pub struct GroupConsumer {
    consumer: BaseConsumer<Context>,
    cfg: KafkaConfig,
    keep: usize,
}

/// Subscribe to the configured topics in the group.
pub fn subscribe(
    cfg: &KafkaConfig,
    keep: usize,
    metrics: Arc<Metrics>,
) -> Result<GroupConsumer, ConsumeError> {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &cfg.brokers)
        .set("group.id", &cfg.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", cfg.session_timeout_ms.to_string())
        .set(
            "heartbeat.interval.ms",
            (cfg.session_timeout_ms / 4).max(100).to_string(),
        )
        .set("statistics.interval.ms", "5000")
        .set("topic.metadata.refresh.interval.ms", "10000");
    for (k, v) in &cfg.options {
        client.set(k, v);
    }
    let consumer: BaseConsumer<Context> = client.create_with_context(Context { metrics })?;
    let topics: Vec<&str> = cfg.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics)?;
    Ok(GroupConsumer {
        consumer,
        cfg: cfg.clone(),
        keep,
    })
}

impl GroupConsumer {
    /// Consume until `stop`: read a batch, store it (retrying while the store is away),
    /// commit its offsets.
    /// `failing` is set while the store refuses batches (`/health` answers 503).
    pub fn run(
        self,
        store: &Store,
        rules: &Rules,
        metrics: &Metrics,
        rt: &tokio::runtime::Handle,
        stop: &AtomicBool,
        failing: &AtomicBool,
    ) {
        let wait = Duration::from_millis(self.cfg.batch_wait_ms.max(1));
        while !stop.load(Ordering::SeqCst) {
            let batch = self.batch(wait, metrics, stop);
            if batch.is_empty() {
                continue;
            }
            let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
            let (mut rows, mut dead) = (Vec::new(), Vec::new());
            for m in batch {
                let key = (m.at.topic.clone(), m.at.partition);
                let o = next.entry(key).or_insert(0);
                *o = (*o).max(m.at.offset + 1);
                match record::read(m, self.cfg.max_message_bytes, self.keep) {
                    Ok(r) => rows.push(r),
                    Err(d) => {
                        tracing::warn!(topic = %d.at.topic, partition = d.at.partition,
                            offset = d.at.offset, reason = %d.reason, "dead-lettered");
                        dead.push(d);
                    }
                }
            }
            let mut backoff = Duration::from_millis(200);
            let written = loop {
                let started = Instant::now();
                match rt.block_on(store.write(&rows, &dead, rules)) {
                    Ok(w) => {
                        metrics
                            .store_latency
                            .observe(started.elapsed().as_secs_f64());
                        failing.store(false, Ordering::SeqCst);
                        break Some(w);
                    }
                    Err(e) if e.is_refusal() => {
                        // A value the database can never take: find it, row by row, and
                        // dead-letter it; the rest of the batch is stored.
                        metrics.store_errors.inc();
                        tracing::warn!(error = %e, "the store refused a value in the batch; writing it row by row");
                        match rt.block_on(refuse_one_by_one(
                            store, rules, &mut rows, &mut dead, self.keep,
                        )) {
                            Ok(()) => continue,
                            Err(e) => tracing::warn!(error = %e, "the store is away; retrying"),
                        }
                    }
                    Err(e) => {
                        metrics.store_errors.inc();
                        failing.store(true, Ordering::SeqCst);
                        tracing::warn!(error = %e, events = rows.len(),
                            "the store refused the batch; offsets stay uncommitted, retrying in {:?}", backoff);
                        let until = Instant::now() + backoff;
                        while Instant::now() < until {
                            if stop.load(Ordering::SeqCst) {
                                break;
                            }
                            // Nothing new is read meanwhile. librdkafka's own thread keeps the
                            // membership alive (past `max.poll.interval.ms` it leaves the group
                            // and another member reads from the last commit: still no loss).
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        if stop.load(Ordering::SeqCst) {
                            break None;
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            };
            let Some(written) = written else { return };
            metrics.written(&written);
            for d in &dead {
                metrics.dead_lettered.with_label_values(&[d.tag]).inc();
            }
            let mut tpl = TopicPartitionList::new();
            for ((topic, partition), offset) in &next {
                let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset));
            }
            if let Err(e) = self.consumer.commit(&tpl, CommitMode::Sync) {
                // After a rebalance the partition may be another member's: it reads from the
                // last commit and the store drops what this one stored already.
                tracing::warn!(error = %e, "offset commit failed; the events are stored, a replay is deduplicated");
            }
        }
        self.consumer.unsubscribe();
    }

    /// Up to `batch_max` messages, waiting at most `wait` after the first.
    fn batch(&self, wait: Duration, metrics: &Metrics, stop: &AtomicBool) -> Vec<Incoming> {
        let mut out = Vec::new();
        let mut deadline = None::<Instant>;
        while out.len() < self.cfg.batch_max && !stop.load(Ordering::SeqCst) {
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_millis(200),
            };
            if deadline.is_some() && left.is_zero() {
                break;
            }
            match self.consumer.poll(left) {
                Some(Ok(m)) => {
                    metrics.consumed.with_label_values(&[m.topic()]).inc();
                    out.push(Incoming {
                        at: Position {
                            topic: m.topic().to_string(),
                            partition: m.partition(),
                            offset: m.offset(),
                        },
                        payload: m.payload().unwrap_or_default().to_vec(),
                    });
                    deadline.get_or_insert_with(|| Instant::now() + wait);
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "consumer");
                    if deadline.is_none() {
                        break;
                    }
                }
                None => {
                    if deadline.is_none() {
                        break;
                    }
                }
            }
        }
        out
    }
}

/// Move the rows the store refuses for good from `rows` to `dead` (each tried alone in a
/// transaction that is rolled back, so nothing is stored twice); an error that is not a
/// refusal (the store went away) is returned.
async fn refuse_one_by_one(
    store: &Store,
    rules: &Rules,
    rows: &mut Vec<record::Row>,
    dead: &mut Vec<record::DeadLetter>,
    keep: usize,
) -> Result<(), crate::store::StoreError> {
    let mut kept = Vec::with_capacity(rows.len());
    for r in rows.drain(..) {
        match store.try_alone(&r, rules).await {
            Ok(()) => kept.push(r),
            Err(e) if e.is_refusal() => {
                let bytes = r.json.as_bytes();
                dead.push(record::DeadLetter {
                    reason: format!("the store refused it: {e}"),
                    tag: "refused",
                    size: bytes.len(),
                    bytes: bytes[..bytes.len().min(keep)].to_vec(),
                    at: r.at.clone(),
                });
            }
            Err(e) => {
                kept.push(r);
                return Err(e);
            }
        }
    }
    *rows = kept;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(device: &str, n: i64) -> record::Row {
        let json = format!(
            r#"{{"schema_version":1,"event_id":"{device}-{n}","device_id":"{device}","stream_id":"s","seq":{n},"pts_ns":0,"timestamp":"2026-12-01T10:00:00Z","kind":"occupancy","occupancy":{{}}}}"#
        );
        record::read(
            Incoming {
                at: Position {
                    topic: "t".into(),
                    partition: 0,
                    offset: n,
                },
                payload: json.into_bytes(),
            },
            1 << 20,
            64,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_row_the_store_refuses_is_dead_lettered_and_the_rest_stored() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        let store = Store::open(&url, 1).await.unwrap();
        // A database that refuses one device's rows for good (SQLITE_CONSTRAINT).
        sqlx::query(
            "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.device_id = 'bad'
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let rules = Rules::default();
        let mut rows = vec![row("good", 0), row("bad", 1), row("good", 2)];
        let mut dead = Vec::new();
        let e = store.write(&rows, &dead, &rules).await.unwrap_err();
        assert!(e.is_refusal(), "{e}");
        refuse_one_by_one(&store, &rules, &mut rows, &mut dead, 16)
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(dead.len(), 1);
        assert!(
            dead[0].reason.contains("refused by the test"),
            "{}",
            dead[0].reason
        );
        assert_eq!(dead[0].at.offset, 1);
        let w = store.write(&rows, &dead, &rules).await.unwrap();
        assert_eq!((w.stored, w.dead), (2, 1));
    }

    #[test]
    fn a_store_that_is_away_is_not_a_refusal() {
        let e = crate::store::StoreError::Db(sqlx::Error::PoolTimedOut);
        assert!(!e.is_refusal());
    }
}

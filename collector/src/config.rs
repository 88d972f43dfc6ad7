//! `collector.toml`: where the events come from (`[kafka]`), where they are kept (`[store]`),
//! how they are served (`[http]`), when a device counts as offline (`[devices]`), where
//! uploads go (`[uploads]`) and the alert rules (`[[alerts]]`).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use edgeflow_core::Section;
use edgeflow_core::stage::Invalid;
use serde::Deserialize;

/// The whole `collector.toml`: one table per part, each checked on its own ([`load`]).
#[derive(Clone, Debug)]
pub struct CollectorConfig {
    /// `[kafka]`: the consumer.
    pub kafka: KafkaConfig,
    /// `[store]`: the event store.
    pub store: StoreConfig,
    /// `[http]`: the REST API and `/metrics`.
    pub http: HttpConfig,
    /// `[devices]`: the device registry.
    pub devices: DevicesConfig,
    /// `[uploads]`: clip and snapshot uploads.
    pub uploads: UploadsConfig,
    /// `[alerts.<name>]`: the alert rules, by name.
    pub alerts: Vec<AlertRule>,
}

/// Read a `collector.toml`: the config and its warnings, or every problem with line and
/// column.
pub fn load(
    file_name: &str,
    text: &str,
) -> Result<(CollectorConfig, edgeflow_core::Diagnostics), edgeflow_core::Diagnostics> {
    use edgeflow_core::config::SectionEntry;
    let entries = [
        SectionEntry::of::<KafkaConfig>(),
        SectionEntry::of::<StoreConfig>(),
        SectionEntry::of::<HttpConfig>(),
        SectionEntry::of::<DevicesConfig>(),
        SectionEntry::of::<UploadsConfig>(),
        SectionEntry::of::<AlertsConfig>(),
    ];
    let (s, warnings) =
        edgeflow_core::load_sections(file_name, text, &entries, &[KafkaConfig::NAME])?;
    let kafka = take::<KafkaConfig>(&s);
    let Some(kafka) = kafka else {
        // `load_sections` refuses a file without the required `[kafka]`.
        let mut d = edgeflow_core::Diagnostics::new(file_name, text);
        d.push(edgeflow_core::Diagnostic::error(
            "`[kafka]` is missing",
            Some(0..0),
        ));
        return Err(d);
    };
    let alerts = take::<AlertsConfig>(&s)
        .unwrap_or_default()
        .0
        .into_iter()
        .map(|(name, rule)| AlertRule { name, ..rule })
        .collect();
    Ok((
        CollectorConfig {
            kafka,
            store: take::<StoreConfig>(&s).unwrap_or_default(),
            http: take::<HttpConfig>(&s).unwrap_or_default(),
            devices: take::<DevicesConfig>(&s).unwrap_or_default(),
            uploads: take::<UploadsConfig>(&s).unwrap_or_default(),
            alerts,
        },
        warnings,
    ))
}

/// A section's config out of the loaded ones.
fn take<T: Clone + Send + Sync + 'static>(s: &edgeflow_core::Sections) -> Option<T> {
    s.get::<T>().map(|t| T::clone(&t))
}

impl Section for KafkaConfig {
    const NAME: &'static str = "kafka";
    const SUMMARY: &'static str = "the Kafka consumer group the collector joins";
    fn validate(&self) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        if self.brokers.trim().is_empty() {
            inv.field(
                "brokers",
                "must name at least one broker",
                Some("e.g. `brokers = \"127.0.0.1:9092\"`".into()),
            );
        }
        if self.topics.is_empty() {
            inv.field(
                "topics",
                "must name at least one topic",
                Some("e.g. `topics = [\"^edgeflow-.*\"]` (a leading `^` is a pattern)".into()),
            );
        }
        if self.group_id.trim().is_empty() {
            inv.field("group_id", "must not be empty", None);
        }
        if self.batch_max == 0 {
            inv.field("batch_max", "must be at least 1", None);
        }
        if self.max_message_bytes == 0 {
            inv.field("max_message_bytes", "must be at least 1", None);
        }
        inv.into_result()
    }
}

impl Section for StoreConfig {
    const NAME: &'static str = "store";
    const SUMMARY: &'static str = "where events are kept: SQLite (default) or PostgreSQL";
    fn validate(&self) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        if crate::store::Backend::of(&self.url).is_none() {
            inv.field(
                "url",
                "must start with `sqlite:` or `postgres://`",
                Some(
                    "e.g. `url = \"sqlite://collector.db\"` or \
                     `url = \"postgres://edgeflow@127.0.0.1/edgeflow\"`"
                        .into(),
                ),
            );
        }
        if self.max_connections == 0 {
            inv.field("max_connections", "must be at least 1", None);
        }
        inv.into_result()
    }
}

impl Section for HttpConfig {
    const NAME: &'static str = "http";
    const SUMMARY: &'static str = "the collector's REST API and /metrics";
    fn validate(&self) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        if self.listen.parse::<SocketAddr>().is_err() {
            inv.field(
                "listen",
                "must be `address:port`",
                Some("e.g. `listen = \"127.0.0.1:8090\"`".into()),
            );
        }
        if self.max_page_size == 0 {
            inv.field("max_page_size", "must be at least 1", None);
        }
        if self.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            inv.field(
                "token",
                "must not be empty",
                Some("remove `token` to serve without one".into()),
            );
        }
        if self.token.is_some() && self.token_env.is_some() {
            inv.field("token_env", "give `token` or `token_env`, not both", None);
        }
        inv.into_result()
    }
}

impl Section for DevicesConfig {
    const NAME: &'static str = "devices";
    const SUMMARY: &'static str = "the device registry";
    fn validate(&self) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        if !(self.offline_after_s.is_finite() && self.offline_after_s > 0.0) {
            inv.field(
                "offline_after_s",
                "must be a positive number of seconds",
                Some("e.g. `offline_after_s = 90.0` (three missed 30 s statuses)".into()),
            );
        }
        inv.into_result()
    }
}

impl Section for UploadsConfig {
    const NAME: &'static str = "uploads";
    const SUMMARY: &'static str = "clip and snapshot uploads";
}

/// `[alerts.<name>]`: the rules by name.
#[derive(Clone, Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct AlertsConfig(pub BTreeMap<String, AlertRule>);

impl Section for AlertsConfig {
    const NAME: &'static str = "alerts";
    const SUMMARY: &'static str = "alert rules, one `[alerts.<name>]` table each";
    fn validate(&self) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        for (name, rule) in &self.0 {
            let at = |f: &str| format!("{name}.{f}");
            if rule.min_count.is_some() != rule.window_s.is_some() {
                inv.field(
                    &at("window_s"),
                    "`min_count` and `window_s` go together",
                    Some("e.g. `min_count = 10` and `window_s = 60.0`: ten in a minute".into()),
                );
            }
            if rule.window_s.is_some_and(|w| !(w.is_finite() && w > 0.0)) {
                inv.field(
                    &at("window_s"),
                    "must be a positive number of seconds",
                    None,
                );
            }
            if rule.min_count == Some(0) {
                inv.field(&at("min_count"), "must be at least 1", None);
            }
            if let Some(url) = &rule.webhook
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                inv.field(
                    &at("webhook"),
                    "must be an http:// or https:// URL",
                    Some("e.g. `webhook = \"https://hooks.example.com/edgeflow\"`".into()),
                );
            }
        }
        inv.into_result()
    }
}

/// `[kafka]`: the consumer group.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// Topics, or patterns starting with `^` (default `["^edgeflow-.*"]`, what the edge's
    /// default `edgeflow-{kind}` template writes).
    #[serde(default = "d_topics")]
    pub topics: Vec<String>,
    /// The consumer group: collectors of one group share the partitions.
    #[serde(default = "d_group")]
    pub group_id: String,
    /// How long the group waits for a silent member before giving its partitions to others.
    #[serde(default = "d_session_ms")]
    pub session_timeout_ms: u64,
    /// Events stored (and offsets committed) per transaction, at most.
    #[serde(default = "d_batch_max")]
    pub batch_max: usize,
    /// Wait at most this long to fill a batch.
    #[serde(default = "d_batch_wait_ms")]
    pub batch_wait_ms: u64,
    /// A larger message is dead-lettered.
    #[serde(default = "d_max_message_bytes")]
    pub max_message_bytes: usize,
    /// Any other librdkafka setting (`security.protocol`, `sasl.mechanism`, ...).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// `[store]`.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://FILE` (embedded, the default `sqlite://edgeflow-collector.db`) or
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`.
    #[serde(default = "d_url")]
    pub url: String,
    /// Connections in the pool.
    #[serde(default = "d_max_connections")]
    pub max_connections: u32,
    /// Dead letters keep this many bytes of the message.
    #[serde(default = "d_dead_letter_bytes")]
    pub dead_letter_bytes: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: d_url(),
            max_connections: d_max_connections(),
            dead_letter_bytes: d_dead_letter_bytes(),
        }
    }
}

/// `[http]`.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to listen on (default `127.0.0.1:8090`: this machine only).
    #[serde(default = "d_listen")]
    pub listen: String,
    /// A bearer token every request but `/health` must carry.
    #[serde(default)]
    pub token: Option<String>,
    /// The environment variable holding the token (instead of `token`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Largest request body (uploads have their own limits).
    #[serde(default = "d_max_body")]
    pub max_body_bytes: usize,
    /// Largest `limit` of `/data`; also its default is the smaller of this and 100.
    #[serde(default = "d_max_page")]
    pub max_page_size: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: d_listen(),
            token: None,
            token_env: None,
            max_body_bytes: d_max_body(),
            max_page_size: d_max_page(),
        }
    }
}

impl HttpConfig {
    /// The token, from `token` or the variable `token_env` names.
    pub fn token(&self) -> Option<String> {
        self.token.clone().or_else(|| {
            self.token_env
                .as_ref()
                .and_then(|v| std::env::var(v).ok())
                .filter(|t| !t.is_empty())
        })
    }
}

/// `[devices]`.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicesConfig {
    /// A device unheard of for this long is offline.
    #[serde(default = "d_offline")]
    pub offline_after_s: f64,
}

impl Default for DevicesConfig {
    fn default() -> Self {
        DevicesConfig {
            offline_after_s: d_offline(),
        }
    }
}

/// `[uploads]`: clips and snapshots the edge puts.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadsConfig {
    /// Directory (made at start).
    #[serde(default = "d_upload_dir")]
    pub dir: String,
    /// Largest clip.
    #[serde(default = "d_max_clip")]
    pub max_clip_bytes: usize,
    /// Largest snapshot.
    #[serde(default = "d_max_snapshot")]
    pub max_snapshot_bytes: usize,
}

impl Default for UploadsConfig {
    fn default() -> Self {
        UploadsConfig {
            dir: d_upload_dir(),
            max_clip_bytes: d_max_clip(),
            max_snapshot_bytes: d_max_snapshot(),
        }
    }
}

/// One `[alerts.<name>]` rule: an event that matches every given filter fires it.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// The rule's name (the table's key).
    #[serde(skip)]
    pub name: String,
    /// Event kind (`zone_event`, `detections`, `stream_status`, ...).
    pub kind: String,
    /// For zone events: `enter`, `exit`, `dwell` or `line_cross`.
    #[serde(default)]
    pub event_type: Option<String>,
    /// The zone or line.
    #[serde(default)]
    pub zone_id: Option<String>,
    /// The class (`person`); for detections, a box of this class.
    #[serde(default)]
    pub class: Option<String>,
    /// Exits and dwells of at least this many seconds.
    #[serde(default)]
    pub min_dwell_s: Option<f64>,
    /// Detections with at least this many persons.
    #[serde(default)]
    pub min_persons: Option<u64>,
    /// Fire when this many matching events of a device fall within `window_s` (once per
    /// window).
    #[serde(default)]
    pub min_count: Option<u64>,
    /// The window of `min_count`, seconds.
    #[serde(default)]
    pub window_s: Option<f64>,
    /// POST the alert here (retried until it is taken).
    #[serde(default)]
    pub webhook: Option<String>,
}

fn d_topics() -> Vec<String> {
    vec!["^edgeflow-.*".into()]
}
fn d_group() -> String {
    "edgeflow-collector".into()
}
fn d_session_ms() -> u64 {
    10_000
}
fn d_batch_max() -> usize {
    500
}
fn d_batch_wait_ms() -> u64 {
    100
}
fn d_max_message_bytes() -> usize {
    1 << 20
}
fn d_url() -> String {
    "sqlite://edgeflow-collector.db".into()
}
fn d_max_connections() -> u32 {
    4
}
fn d_dead_letter_bytes() -> usize {
    4096
}
fn d_listen() -> String {
    "127.0.0.1:8090".into()
}
fn d_max_body() -> usize {
    64 << 10
}
fn d_max_page() -> usize {
    1000
}
fn d_offline() -> f64 {
    90.0
}
fn d_upload_dir() -> String {
    "edgeflow-uploads".into()
}
fn d_max_clip() -> usize {
    256 << 20
}
fn d_max_snapshot() -> usize {
    8 << 20
}

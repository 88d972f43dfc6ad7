//! The option tables publish sinks share, one struct each: `spool = { ... }`,
//! `tls = { ... }` (its presence turns TLS on) and `auth = { ... }`. The loader sees into
//! them like any config (unknown keys and wrong types point at the nested key), and the old
//! flat keys (`spool_dir`, `ca_file`, `username`, …) get an error naming the table and the
//! line to write ([`SPOOL_MOVED`], [`TLS_MOVED`], [`AUTH_MOVED`]).

use edgeflow_core::Moved;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, de::value::MapAccessDeserializer};

/// `spool = { dir, max_bytes, max_age_s, fsync_interval_ms, drain_timeout_s }`: where a sink
/// keeps what it accepted until the destination has it.
#[derive(Clone, Debug, Deserialize, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpoolTable {
    /// Directory (default `.edgeflow/spool/<pipeline>/<stage>`).
    #[serde(default)]
    pub dir: Option<String>,
    /// Bound in bytes; beyond, the oldest unsent events are dropped and counted.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Drop unsent events older than this (default: keep until sent).
    #[serde(default)]
    pub max_age_s: Option<f64>,
    /// `fsync` at most this often (0: every event).
    #[serde(default = "default_fsync_ms")]
    pub fsync_interval_ms: u64,
    /// At the end of a run, wait this long for the destination to take what is pending; the
    /// rest stays in the spool for the next run.
    #[serde(default = "default_drain_s")]
    pub drain_timeout_s: f64,
}

impl Default for SpoolTable {
    fn default() -> Self {
        SpoolTable {
            dir: None,
            max_bytes: default_max_bytes(),
            max_age_s: None,
            fsync_interval_ms: default_fsync_ms(),
            drain_timeout_s: default_drain_s(),
        }
    }
}

/// Default `spool.max_bytes`: 256 MiB.
fn default_max_bytes() -> u64 {
    256 << 20
}

/// Default `spool.fsync_interval_ms`.
fn default_fsync_ms() -> u64 {
    100
}

/// Default `spool.drain_timeout_s`.
fn default_drain_s() -> f64 {
    10.0
}

/// `tls = { ca_file, client_cert_file, client_key_file }`: TLS is on when the table is there
/// (`tls = {}`: the system's roots, no client certificate).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct TlsTable {
    /// PEM file with the CA certificates to trust (default: the system's roots).
    pub ca_file: Option<String>,
    /// PEM certificate chain to present (mutual TLS).
    pub client_cert_file: Option<String>,
    /// PEM private key of `client_cert_file`.
    pub client_key_file: Option<String>,
}

#[derive(Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TlsFields {
    #[serde(default)]
    ca_file: Option<String>,
    #[serde(default)]
    client_cert_file: Option<String>,
    #[serde(default)]
    client_key_file: Option<String>,
}

/// A table, or the old `tls = true` / `tls = false` with the line to write instead.
impl<'de> Deserialize<'de> for TlsTable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TableOnly;
        impl<'de> Visitor<'de> for TableOnly {
            type Value = TlsTable;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table like `tls = { ca_file = \"ca.pem\" }`")
            }
            fn visit_bool<E: de::Error>(self, on: bool) -> Result<TlsTable, E> {
                Err(E::custom(if on {
                    "`tls = true` is now a table: write `tls = {}` (the system's CA roots) or `tls = { ca_file = \"ca.pem\" }`"
                } else {
                    "`tls = false` is now no table at all: remove the line (TLS is off without a `tls` table)"
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TlsTable, A::Error> {
                let f = TlsFields::deserialize(MapAccessDeserializer::new(map))?;
                Ok(TlsTable {
                    ca_file: f.ca_file,
                    client_cert_file: f.client_cert_file,
                    client_key_file: f.client_key_file,
                })
            }
        }
        d.deserialize_any(TableOnly)
    }
}

/// `auth = { username, password, sasl_mechanism }`: credentials for the destination.
#[derive(
    Clone, Debug, Default, Deserialize, PartialEq, Eq, serde::Serialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct AuthTable {
    /// User name.
    #[serde(default)]
    pub username: Option<String>,
    /// Password.
    #[serde(default)]
    pub password: Option<String>,
    /// Kafka's SASL mechanism: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    #[serde(default)]
    pub sasl_mechanism: Option<String>,
}

/// The old flat spool keys.
pub const SPOOL_MOVED: [Moved; 5] = [
    Moved::renamed("spool_dir", "spool", "dir"),
    Moved::renamed("spool_max_bytes", "spool", "max_bytes"),
    Moved::renamed("spool_max_age_s", "spool", "max_age_s"),
    Moved::into("fsync_interval_ms", "spool"),
    Moved::into("drain_timeout_s", "spool"),
];

/// The old flat TLS file keys (`tls = true` itself is answered by [`TlsTable`]).
pub const TLS_MOVED: [Moved; 3] = [
    Moved::into("ca_file", "tls"),
    Moved::into("client_cert_file", "tls"),
    Moved::into("client_key_file", "tls"),
];

/// The old flat credential keys.
pub const AUTH_MOVED: [Moved; 3] = [
    Moved::into("username", "auth"),
    Moved::into("password", "auth"),
    Moved::into("sasl_mechanism", "auth"),
];

/// `N` moved keys from several lists, for a sink's `MOVED` (`N` is their total length).
pub const fn joined<const N: usize>(lists: &[&[Moved]]) -> [Moved; N] {
    let mut out = [Moved::into("", ""); N];
    let (mut i, mut n) = (0, 0);
    while i < lists.len() {
        let mut j = 0;
        while j < lists[i].len() {
            out[n] = lists[i][j];
            n += 1;
            j += 1;
        }
        i += 1;
    }
    // Evaluated at compile time in the sinks' `MOVED` consts: a wrong `N` fails the build.
    assert!(
        n == N,
        "`joined::<N>`: N is not the total length of the lists"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Cfg {
        #[serde(default)]
        tls: Option<TlsTable>,
    }

    #[test]
    fn tls_is_a_table_and_the_old_switch_says_what_to_write() {
        let on: Cfg = toml::from_str("tls = { ca_file = \"ca.pem\" }").unwrap();
        assert_eq!(on.tls.and_then(|t| t.ca_file).as_deref(), Some("ca.pem"));
        let roots: Cfg = toml::from_str("tls = {}").unwrap();
        assert_eq!(roots.tls, Some(TlsTable::default()));
        let off: Cfg = toml::from_str("").unwrap();
        assert!(off.tls.is_none());
        let e = toml::from_str::<Cfg>("tls = true").unwrap_err().to_string();
        assert!(e.contains("write `tls = {}`"), "{e}");
        let e = toml::from_str::<Cfg>("tls = false")
            .unwrap_err()
            .to_string();
        assert!(e.contains("remove the line"), "{e}");
        let e = toml::from_str::<Cfg>("tls = { ca = \"x\" }")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `ca`"), "{e}");
    }

    #[test]
    fn moved_lists_join_in_order() {
        const ALL: [Moved; 8] = joined(&[&SPOOL_MOVED, &TLS_MOVED]);
        assert_eq!(ALL[0], SPOOL_MOVED[0]);
        assert_eq!(ALL[7], TLS_MOVED[2]);
        assert_eq!(ALL[0].to, "dir");
    }
}

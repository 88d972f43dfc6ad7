//! `[server]`: the edge HTTP service's section of a pipeline file.

use std::net::SocketAddr;

use edgeflow_core::{Invalid, Section};
use serde::Deserialize;

fn d_listen() -> String {
    "127.0.0.1:8080".to_string()
}
fn d_max_body() -> usize {
    8 << 20
}
fn d_true() -> bool {
    true
}
fn d_ready() -> u64 {
    10_000
}

/// `[server]`: where the edge HTTP service listens and who may use it.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address and port (default `127.0.0.1:8080`: this machine only; a container or a fleet
    /// box sets `0.0.0.0:8080`). Port 0 takes a free port (the log says which).
    #[serde(default = "d_listen")]
    pub listen: String,
    /// A bearer token every endpoint but `/health`, `/health/live` and `/health/ready`
    /// requires (`Authorization: Bearer ...`). Prefer `token_env`: a file in a repository is
    /// no place for a secret.
    #[serde(default)]
    pub token: Option<String>,
    /// The environment variable that holds the bearer token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Largest request body in bytes (default 8 MiB); larger posts get 413.
    #[serde(default = "d_max_body")]
    pub max_body_bytes: usize,
    /// Origins a browser page elsewhere may call from (`https://ops.example.com`); none by
    /// default (no CORS headers).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Serve the live page at `/` (default true).
    #[serde(default = "d_true")]
    pub page: bool,
    /// `/health/ready` needs a frame from every source within this many milliseconds
    /// (default 10000).
    #[serde(default = "d_ready")]
    pub ready_timeout_ms: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: d_listen(),
            token: None,
            token_env: None,
            max_body_bytes: d_max_body(),
            cors_origins: Vec::new(),
            page: true,
            ready_timeout_ms: d_ready(),
        }
    }
}

impl Section for ServerConfig {
    const NAME: &'static str = "server";
    const SUMMARY: &'static str = "the edge HTTP service: POST /frame, GET /frame_data, /streams, /health, /status, /metrics and the live page";

    fn validate(&self) -> Result<(), Invalid> {
        let mut inv = Invalid::new();
        if self.listen.parse::<SocketAddr>().is_err() {
            inv.field(
                "listen",
                format!("`{}` is not an address and port", self.listen),
                Some("write `127.0.0.1:8080` (this machine only) or `0.0.0.0:8080` (every interface)".into()),
            );
        }
        if self.token.is_some() && self.token_env.is_some() {
            inv.field(
                "token",
                "`token` and `token_env` are both set",
                Some("keep one: `token_env` names the variable that holds the token".into()),
            );
        }
        if self.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            inv.field(
                "token",
                "is empty",
                Some("remove `token` for no authentication, or give it a value".into()),
            );
        }
        if let Some(var) = &self.token_env {
            match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => {}
                _ => {
                    inv.field(
                        "token_env",
                        format!("the environment variable `{var}` is not set"),
                        Some(format!(
                            "export {var}=<token> before starting edgeflow, or remove `token_env`"
                        )),
                    );
                }
            }
        }
        if self.max_body_bytes < 1024 {
            inv.field(
                "max_body_bytes",
                format!("{} bytes is too small for a JPEG", self.max_body_bytes),
                Some("e.g. 8388608 (8 MiB)".into()),
            );
        }
        for (i, o) in self.cors_origins.iter().enumerate() {
            let scheme = o.starts_with("http://") || o.starts_with("https://");
            if !scheme || o.ends_with('/') || o.parse::<axum::http::HeaderValue>().is_err() {
                inv.field(
                    &format!("cors_origins.{i}"),
                    format!("`{o}` is not an origin"),
                    Some("an origin is scheme, host and port without a path: `https://ops.example.com`".into()),
                );
            }
        }
        if self.ready_timeout_ms == 0 {
            inv.field(
                "ready_timeout_ms",
                "must be more than 0",
                Some("e.g. 10000".into()),
            );
        }
        inv.into_result()
    }
}

impl ServerConfig {
    /// The bearer token, if one is configured (`token`, else the variable `token_env` names).
    pub fn bearer_token(&self) -> Option<String> {
        self.token.clone().or_else(|| {
            self.token_env
                .as_ref()
                .and_then(|v| std::env::var(v).ok())
                .map(|t| t.trim().to_string())
        })
    }
}

//! The router: shared state, the bearer token, CORS, JSON errors.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use edgeflow_core::metrics::PipelineMetrics;
use edgeflow_core::{Role, StageHandle};
use edgeflow_stages::capture::http::FrameInbox;
use serde_json::json;

use crate::config::ServerConfig;
use crate::metrics::ServerMetrics;
use crate::routes;
use crate::view::Views;

/// One stage of the graph, as `/status` shows it.
#[derive(Clone, Debug)]
pub struct Node {
    /// Stage id.
    pub id: String,
    /// `type = "..."`, with its variant (`capture/http`).
    pub kind: String,
    /// Source, transform or sink.
    pub role: Role,
    /// The stages it reads from.
    pub inputs: Vec<String>,
}

/// What every handler shares.
pub struct Inner {
    /// The `[server]` section.
    pub config: ServerConfig,
    /// The bearer token, if any.
    pub token: Option<String>,
    /// The push streams' inbox.
    pub inbox: Arc<FrameInbox>,
    /// The latest of every stream.
    pub views: Views,
    /// The pipeline's name.
    pub pipeline: String,
    /// The graph.
    pub graph: Vec<Node>,
    /// Every stage's handle, in graph order.
    pub stages: Vec<StageHandle>,
    /// The pipeline's metrics (and registry, which the service's own metrics join).
    pub metrics: Arc<PipelineMetrics>,
    /// The service's own metrics.
    pub own: ServerMetrics,
    /// When the service started.
    pub started: Instant,
}

/// The handlers' state.
pub type App = Arc<Inner>;

/// A JSON error: `{"error": "...", "status": N}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    (
        status,
        axum::Json(json!({ "error": message, "status": status.as_u16() })),
    )
        .into_response()
}

/// An error answer in the making (small, for `Result`s): status and message.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        error(self.0, self.1)
    }
}

/// The routes, with the token check, CORS and the body limit.
pub fn router(app: App) -> Router {
    let open = Router::new()
        .route("/health", get(routes::health::health))
        .route("/health/live", get(routes::health::live))
        .route("/health/ready", get(routes::health::ready));
    let mut guarded = Router::new()
        .route("/frame", post(routes::frames::post_frame))
        .route("/frame_data", get(routes::frames::frame_data))
        .route("/streams", get(routes::frames::streams))
        .route("/streams/{id}/latest.jpg", get(routes::frames::latest_jpg))
        .route("/status", get(routes::health::status))
        .route("/metrics", get(routes::health::metrics));
    if app.config.page {
        guarded = guarded.route("/", get(routes::page::page));
    }
    let guarded = guarded.route_layer(middleware::from_fn_with_state(app.clone(), bearer));
    let mut router = open
        .merge(guarded)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint (see GET /status)") })
        .layer(DefaultBodyLimit::max(app.config.max_body_bytes))
        .layer(middleware::from_fn_with_state(app.clone(), count))
        .with_state(app.clone());
    let origins: Vec<HeaderValue> = app
        .config
        .cors_origins
        .iter()
        .filter_map(|o| o.parse().ok())
        .collect();
    if !origins.is_empty() {
        router = router.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION]),
        );
    }
    router
}

/// Equal in constant time (the token is a secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn bearer(State(app): State<App>, request: Request, next: Next) -> Response {
    let Some(token) = &app.token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if same(g.trim().as_bytes(), token.as_bytes()) => next.run(request).await,
        _ => {
            let wrong = given.is_some();
            // Read the body (up to the limit) before refusing: a connection closed while the
            // client still sends its JPEG reaches it as a reset, not as this 401.
            let _ = axum::body::to_bytes(request.into_body(), app.config.max_body_bytes).await;
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                if wrong {
                    "the bearer token is wrong"
                } else {
                    "this endpoint needs `Authorization: Bearer <token>` ([server] token)"
                },
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
    }
}

/// The route a path belongs to, as the request counter labels it (a bounded set).
fn route_of(path: &str) -> &'static str {
    const ROUTES: [&str; 9] = [
        "/",
        "/frame",
        "/frame_data",
        "/streams",
        "/status",
        "/metrics",
        "/health",
        "/health/live",
        "/health/ready",
    ];
    if path.starts_with("/streams/") && path.ends_with("/latest.jpg") {
        return "/streams/{id}/latest.jpg";
    }
    ROUTES.into_iter().find(|r| *r == path).unwrap_or("other")
}

async fn count(State(app): State<App>, request: Request, next: Next) -> Response {
    let route = route_of(request.uri().path());
    let response = next.run(request).await;
    app.own.request(route, response.status().as_u16());
    response
}

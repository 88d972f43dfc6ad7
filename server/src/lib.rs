//! # edgeflow-server
//!
//! The edge HTTP service (axum on tokio), configured by a pipeline file's `[server]` table:
//! browsers `POST /frame` JPEGs into `source = "http"` streams and poll `GET /frame_data` for
//! the boxes to draw; operators read `/streams`, `/streams/{id}/latest.jpg`, `/health`,
//! `/health/live`, `/health/ready`, `/status` and `/metrics`; `/` is a live page.
//!
//! A program runs it in three steps around the pipeline's own:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use edgeflow_core::{Pipeline, RunOptions};
//! use edgeflow_server::{EdgeServer, ServerConfig};
//! # let registry = edgeflow_core::Registry::new();
//! let loaded = edgeflow_core::load_file(&registry, "pipelines/browser-faces.toml".as_ref())?;
//! let config = loaded.spec.sections.get::<ServerConfig>().unwrap_or_default();
//! let mut options = RunOptions::default();
//! // 1. Before the build: the frame inbox `source = "http"` stages open their streams in.
//! let server = EdgeServer::new(&config, &loaded.spec, &mut options.services);
//! let mut pipeline = Pipeline::build(loaded.spec, options)?;
//! // 2. Before the start: subscribe to the stages' outputs, bind, serve.
//! let running = server.start(&mut pipeline)?;
//! println!("serving on http://{}", running.addr());
//! let report = pipeline.start()?.wait();
//! // 3. After the run.
//! running.stop();
//! # let _ = report; Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod app;
pub mod config;
pub mod draw;
pub mod metrics;
pub mod routes;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use edgeflow_core::{Pipeline, PipelineSpec, PortKind, QueuePolicy, Role, Services};
use edgeflow_stages::capture::http::FrameInbox;

pub use config::ServerConfig;

use app::{Inner, Node};
use metrics::ServerMetrics;
use view::Views;

/// Why the service did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The async runtime did not start.
    #[error("cannot start the HTTP service's threads: {0}")]
    Runtime(std::io::Error),
    /// The service's metrics could not join the pipeline's registry.
    #[error("cannot register the HTTP service's metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A stage named in the spec is not in the pipeline.
    #[error("cannot follow the pipeline's stages: {0}")]
    Pipeline(#[from] edgeflow_core::RuntimeError),
}

impl ServerError {
    /// What to do about it.
    pub fn help(&self) -> Option<String> {
        match self {
            ServerError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
                Some("another program listens there: stop it, or set `[server] listen` to another port (port 0 takes a free one)".into())
            }
            ServerError::Bind { .. } => {
                Some("check `[server] listen`: an address of this machine and a port you may use (ports below 1024 need privileges)".into())
            }
            _ => None,
        }
    }
}

/// The service, made before the pipeline is built.
pub struct EdgeServer {
    config: ServerConfig,
    inbox: Arc<FrameInbox>,
    pipeline: String,
    graph: Vec<Node>,
    /// Per stage: its output kind, and whether its frames are the ones counted for fps.
    outputs: Vec<(String, Option<PortKind>, bool)>,
}

impl EdgeServer {
    /// Make the service for `spec` and offer its frame inbox to the stages through
    /// `services` (call before `Pipeline::build`).
    pub fn new(config: &ServerConfig, spec: &PipelineSpec, services: &mut Services) -> Self {
        let inbox = Arc::new(FrameInbox::new());
        services.insert_shared(inbox.clone());
        let graph: Vec<Node> = spec
            .stages
            .iter()
            .map(|s| Node {
                id: s.id.clone(),
                kind: match &s.variant {
                    Some((_, v)) => format!("{}/{v}", s.type_name),
                    None => s.type_name.clone(),
                },
                role: s.role,
                inputs: s.inputs.clone(),
            })
            .collect();
        // A stage's frames count when no stage upstream of it makes frames too.
        let makes_frames = |id: &str| {
            spec.stage(id)
                .is_some_and(|s| s.output_kind == Some(PortKind::Frame))
        };
        let upstream_frames = |id: &str| -> bool {
            let mut todo: Vec<String> =
                spec.stage(id).map(|s| s.inputs.clone()).unwrap_or_default();
            let mut seen = Vec::new();
            while let Some(i) = todo.pop() {
                if seen.contains(&i) {
                    continue;
                }
                if makes_frames(&i) {
                    return true;
                }
                todo.extend(spec.stage(&i).map(|s| s.inputs.clone()).unwrap_or_default());
                seen.push(i);
            }
            false
        };
        let outputs = spec
            .stages
            .iter()
            .filter(|s| s.role != Role::Sink)
            .map(|s| {
                (
                    s.id.clone(),
                    s.output_kind,
                    makes_frames(&s.id) && !upstream_frames(&s.id),
                )
            })
            .collect();
        EdgeServer {
            config: config.clone(),
            inbox,
            pipeline: spec.name.clone(),
            graph,
            outputs,
        }
    }

    /// Subscribe to every stage's output, bind `[server] listen` and serve, on threads of
    /// the service's own. Call after `Pipeline::build`, before `Pipeline::start`.
    pub fn start(self, pipeline: &mut Pipeline) -> Result<Running, ServerError> {
        let views = Views::new();
        for stream in self.inbox.streams() {
            views.know(&stream);
        }
        let mut taps = Vec::new();
        for (id, kind, frames) in &self.outputs {
            // Frames are kept one at a time: a copy is a reference, never pixels.
            let capacity = if *kind == Some(PortKind::Frame) {
                2
            } else {
                16
            };
            let rx = pipeline.subscribe_as(id, "http-server", capacity, QueuePolicy::DropOldest)?;
            taps.push((rx, *frames));
        }
        let stages = self
            .graph
            .iter()
            .map(|n| pipeline.stage(&n.id))
            .collect::<Result<Vec<_>, _>>()?;
        let metrics = pipeline.metrics();
        let own = ServerMetrics::register(metrics.registry())?;
        let listener = std::net::TcpListener::bind(&self.config.listen).map_err(|source| {
            ServerError::Bind {
                addr: self.config.listen.clone(),
                source,
            }
        })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: self.config.listen.clone(),
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(ServerError::Runtime)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("http-server")
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let token = self.config.bearer_token();
        let app = Arc::new(Inner {
            config: self.config,
            token,
            inbox: self.inbox,
            views: views.clone(),
            pipeline: self.pipeline,
            graph: self.graph,
            stages,
            metrics,
            own,
            started: Instant::now(),
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(ServerError::Runtime)?
        };
        for (rx, frames) in taps {
            let views = views.clone();
            runtime.spawn(async move {
                while let Ok(m) = rx.recv_async().await {
                    views.take(&m, frames);
                }
            });
        }
        let router = app::router(app);
        let thread = std::thread::Builder::new()
            .name("http-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let served = axum::serve(listener, router)
                        .with_graceful_shutdown(async move {
                            let _ = stop_rx.await;
                        })
                        .await;
                    if let Err(e) = served {
                        tracing::error!("the HTTP service stopped: {e}");
                    }
                });
                runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            })
            .map_err(ServerError::Runtime)?;
        tracing::info!("HTTP service on http://{addr}");
        Ok(Running {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

/// The running service.
pub struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Where it listens (the port chosen, for `listen = "...:0"`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop serving: requests under way finish, then the threads end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

//! The edge HTTP service around `run` (and the inbox `validate --deep` builds against), when
//! the pipeline file has a `[server]` table. Without the `server` feature the loader already
//! refuses `[server]`, so these are no-ops.

use edgeflow::{Pipeline, PipelineSpec, Services};

#[cfg(feature = "server")]
mod with_server {
    use super::*;
    use edgeflow::edgeflow_server::{EdgeServer, Running, ServerConfig};

    /// The service of `spec`'s `[server]`, if it has one, its inbox offered in `services`;
    /// `listen` overrides `[server] listen`.
    pub fn prepare(
        spec: &PipelineSpec,
        services: &mut Services,
        listen: Option<&str>,
    ) -> Option<EdgeServer> {
        let mut config: ServerConfig = (*spec.sections.get::<ServerConfig>()?).clone();
        if let Some(l) = listen {
            config.listen = l.to_string();
        }
        Some(EdgeServer::new(&config, spec, services))
    }

    /// Start the service over the built pipeline; the error is a message with its help.
    pub fn start(
        server: Option<EdgeServer>,
        pipeline: &mut Pipeline,
    ) -> Result<Option<Running>, String> {
        let Some(server) = server else {
            return Ok(None);
        };
        match server.start(pipeline) {
            Ok(r) => {
                eprintln!("edgeflow: HTTP service on http://{}", r.addr());
                Ok(Some(r))
            }
            Err(e) => Err(match e.help() {
                Some(h) => format!("{e}\n  = help: {h}"),
                None => e.to_string(),
            }),
        }
    }

    /// Stop the service after the run.
    pub fn stop(running: Option<Running>) {
        if let Some(r) = running {
            r.stop();
        }
    }

    /// The services a deep check builds the stages with: the inbox, when `[server]` is there.
    pub fn services_for(spec: &PipelineSpec) -> Services {
        let mut services = Services::new();
        let _ = prepare(spec, &mut services, None);
        services
    }
}

#[cfg(not(feature = "server"))]
mod with_server {
    use super::*;

    /// Nothing to serve.
    pub struct EdgeServer;
    /// Nothing running.
    pub struct Running;

    pub fn prepare(_: &PipelineSpec, _: &mut Services, _: Option<&str>) -> Option<EdgeServer> {
        None
    }
    pub fn start(_: Option<EdgeServer>, _: &mut Pipeline) -> Result<Option<Running>, String> {
        Ok(None)
    }
    pub fn stop(_: Option<Running>) {}
    pub fn services_for(_: &PipelineSpec) -> Services {
        Services::new()
    }
}

pub use with_server::{prepare, services_for, start, stop};

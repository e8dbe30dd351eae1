//! Starting a service: its public server and, for participants, its internal one.
//!
//! Each service's `lib.rs` hands this module two route tables (closures that
//! mount routes and app data) and its metrics registry. Both servers get the
//! same frame: health endpoints, `GET /metrics`, JSON errors for unknown routes
//! and bad bodies, a span per request ([`RequestSpan`]) and request metrics.
//! Binding happens before anything runs, so tests can pass port 0 and read the
//! real ports back.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};

use crate::config::Config;
use crate::http;
use crate::metrics::{self, Metrics};
use crate::telemetry::RequestSpan;

/// Mounts a service's routes and app data on an actix `App`.
pub trait Routes: Fn(&mut web::ServiceConfig) + Send + Clone + 'static {}
impl<T: Fn(&mut web::ServiceConfig) + Send + Clone + 'static> Routes for T {}

/// A started service: call [`run_until_stopped`](Self::run_until_stopped), or
/// [`spawn`](Self::spawn) it in tests.
pub struct Application {
    public_port: u16,
    internal_port: Option<u16>,
    servers: Vec<Server>,
}

impl Application {
    /// Binds the public port (and the internal one when `internal` is given) and
    /// prepares the servers; nothing is served until the returned value is run.
    /// Both servers record their requests in `metrics` and serve it on `/metrics`.
    pub fn start(
        config: &Config,
        metrics: &Metrics,
        public: impl Routes,
        internal: Option<impl Routes>,
    ) -> std::io::Result<Self> {
        let public_listener = TcpListener::bind(&config.listen_addr)?;
        let public_port = public_listener.local_addr()?.port();
        let mut servers = vec![server(config, public_listener, metrics, "public", public)?];
        let mut internal_port = None;
        if let Some(internal) = internal {
            let listener = TcpListener::bind(&config.internal_listen_addr)?;
            internal_port = Some(listener.local_addr()?.port());
            servers.push(server(config, listener, metrics, "internal", internal)?);
        }
        Ok(Application {
            public_port,
            internal_port,
            servers,
        })
    }

    pub fn public_port(&self) -> u16 {
        self.public_port
    }

    /// The internal (saga) port; `None` for a service without one.
    pub fn internal_port(&self) -> Option<u16> {
        self.internal_port
    }

    /// Handles that stop the servers (gracefully) when asked.
    pub fn handles(&self) -> Vec<ServerHandle> {
        self.servers.iter().map(Server::handle).collect()
    }

    /// Serves until every server stops (SIGINT/SIGTERM, or a handle's `stop`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        for result in futures_join(self.servers).await {
            result?;
        }
        Ok(())
    }

    /// Runs the servers on the current Tokio runtime in the background (tests).
    pub fn spawn(self) -> Vec<ServerHandle> {
        let handles = self.handles();
        for server in self.servers {
            tokio::spawn(server);
        }
        handles
    }
}

async fn futures_join(servers: Vec<Server>) -> Vec<std::io::Result<()>> {
    let tasks: Vec<_> = servers.into_iter().map(tokio::spawn).collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await.unwrap_or_else(|e| Err(std::io::Error::other(e))));
    }
    results
}

fn server(
    config: &Config,
    listener: TcpListener,
    metrics: &Metrics,
    name: &'static str,
    routes: impl Routes,
) -> std::io::Result<Server> {
    let registry = web::Data::new(metrics.clone());
    Ok(HttpServer::new(move || {
        App::new()
            // The last one wrapped runs first: the span covers the timed request.
            .wrap(registry.middleware(name))
            .wrap(tracing_actix_web::TracingLogger::<RequestSpan>::new())
            .app_data(http::json_config())
            .app_data(registry.clone())
            .configure(routes.clone())
            .configure(http::health)
            .route("/metrics", web::get().to(metrics::endpoint))
            .default_service(web::to(http::no_route))
    })
    .workers(config.workers)
    .backlog(4096)
    // No deadline for a request's head: a process that was paused (SIGSTOP, `docker
    // pause`) wakes with every timer expired, and would answer 408 to the request it was
    // reading, a 4xx that says "nothing changed" for a write that the gateway, which left
    // it after its own bound, may have had applied by the sibling. Requests come whole
    // from the gateway, which bounds them itself.
    .client_request_timeout(std::time::Duration::ZERO)
    .shutdown_timeout(config.shutdown_timeout_secs)
    .listen(listener)?
    .run())
}

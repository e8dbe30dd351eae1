//! Prometheus metrics: one registry per service, served as text on `GET /metrics`.
//!
//! Every service counts and times its HTTP requests here (by server, method, route
//! template and status); components that own a resource own its metrics too
//! ([`RedisStore`](crate::RedisStore) its pool waits and errors, the order service
//! its sagas) and the service's `build` registers them in its [`Metrics`].
//! Recording costs a route lookup and a few atomic operations per request; no
//! series is ever labelled with an id.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpResponse};
use prometheus::core::Collector;
use prometheus::{Encoder, HistogramOpts, HistogramVec, Registry, TextEncoder};

use crate::error::ApiError;
use crate::telemetry::UNMATCHED;

/// Latency buckets in seconds: sub-millisecond Redis answers up to a checkout that
/// waits minutes for its saga.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    120.0,
];

/// A service's metrics registry and its HTTP request histogram.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: HistogramVec,
}

impl Metrics {
    /// A registry holding the HTTP request metrics.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer an HTTP request (its _count is the number of requests), \
                 by server (public or internal port), method, route template and status.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["server", "method", "route", "status"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        Ok(Metrics { registry, requests })
    }

    /// Adds a component's collectors (see [`RedisStore::collectors`](crate::RedisStore::collectors)).
    pub fn register(
        &self,
        collectors: impl IntoIterator<Item = Box<dyn Collector>>,
    ) -> Result<(), prometheus::Error> {
        collectors
            .into_iter()
            .try_for_each(|c| self.registry.register(c))
    }

    /// Everything registered, in the Prometheus text exposition format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::with_capacity(8192);
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }

    /// The middleware that times every request answered by `server` (`public` or `internal`).
    pub(crate) fn middleware(&self, server: &'static str) -> RequestMetrics {
        RequestMetrics {
            requests: self.requests.clone(),
            server,
        }
    }
}

/// `GET /metrics`; needs `web::Data<Metrics>`.
pub async fn endpoint(metrics: web::Data<Metrics>) -> Result<HttpResponse, ApiError> {
    let text = metrics
        .render()
        .map_err(|e| ApiError::Internal(format!("cannot render metrics: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type(prometheus::TEXT_FORMAT)
        .body(text))
}

/// Creates a collector whose name and labels are fixed in the code: failing is a bug
/// found at start-up.
pub fn checked<T>(created: Result<T, prometheus::Error>) -> T {
    created.expect("metric names, help texts and labels are valid")
}

/// Times requests into the `http_request_duration_seconds` histogram.
pub(crate) struct RequestMetrics {
    requests: HistogramVec,
    server: &'static str,
}

impl<S, B> Transform<S, ServiceRequest> for RequestMetrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Transform = RequestMetricsService<S>;
    type InitError = ();
    type Future = std::future::Ready<Result<Self::Transform, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        std::future::ready(Ok(RequestMetricsService {
            service,
            requests: self.requests.clone(),
            server: self.server,
        }))
    }
}

pub(crate) struct RequestMetricsService<S> {
    service: S,
    requests: HistogramVec,
    server: &'static str,
}

impl<S, B> Service<ServiceRequest> for RequestMetricsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Response = ServiceResponse<B>;
    type Error = actix_web::Error;
    type Future = Timed<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let labels = Labels {
            requests: self.requests.clone(),
            server: self.server,
            method: method_label(req.method()),
            start: Instant::now(),
        };
        Timed {
            inner: self.service.call(req),
            labels: Some(labels),
        }
    }
}

struct Labels {
    requests: HistogramVec,
    server: &'static str,
    method: &'static str,
    start: Instant,
}

impl Labels {
    fn observe(self, route: Option<String>, status: StatusCode) {
        let route = route.as_deref().unwrap_or(UNMATCHED);
        self.requests
            .with_label_values(&[self.server, self.method, route, status.as_str()])
            .observe(self.start.elapsed().as_secs_f64());
    }
}

pin_project_lite::pin_project! {
    /// The inner service's future, observed when it completes.
    pub(crate) struct Timed<F> {
        #[pin]
        inner: F,
        labels: Option<Labels>,
    }
}

impl<F, B> Future for Timed<F>
where
    F: Future<Output = Result<ServiceResponse<B>, actix_web::Error>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let outcome = std::task::ready!(this.inner.poll(cx));
        if let Some(labels) = this.labels.take() {
            // The route is read from the routed request: asked before routing, actix
            // would match the path against every route a second time.
            let (route, status) = match &outcome {
                Ok(response) => (response.request().match_pattern(), response.status()),
                Err(error) => (None, error.as_response_error().status_code()),
            };
            labels.observe(route, status);
        }
        Poll::Ready(outcome)
    }
}

/// Methods outside the standard set share one label, so a client cannot mint series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

//! The parts of an actix app that every service mounts the same way.
//!
//! - `/health/live` answers as long as the process serves requests;
//!   `/health/ready` only when its Redis answers PING within the bound.
//! - Unknown routes (extra or missing path segments, wrong method) and bodies
//!   that do not parse get the same JSON error body as every other failure.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::RouteTable;
use crate::error::{ApiError, ErrorBody};
use crate::store::RedisStore;

/// Mounts `/health/live` and `/health/ready`; needs `web::Data<RedisStore>`.
pub fn health(cfg: &mut impl RouteTable) {
    cfg.get("/health/live", live).get("/health/ready", ready);
}

/// The health endpoints' part of every service's API document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(live, ready))]
pub struct HealthApi;

/// The answer of a health endpoint.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HealthStatus {
    /// `live` or `ready`.
    pub status: String,
}

/// Liveness: the process serves requests.
#[utoipa::path(
    get,
    path = "/health/live",
    responses((status = 200, description = "The process serves requests.", body = HealthStatus))
)]
async fn live() -> HttpResponse {
    HttpResponse::Ok().json(HealthStatus {
        status: "live".into(),
    })
}

/// Readiness: the service's Redis answers.
#[utoipa::path(
    get,
    path = "/health/ready",
    responses(
        (status = 200, description = "The service's Redis answered PING.", body = HealthStatus),
        (status = 503, description = "The service's Redis did not answer in time.", body = ErrorBody),
    )
)]
async fn ready(store: web::Data<RedisStore>) -> Result<HttpResponse, ApiError> {
    store.ping().await?;
    Ok(HttpResponse::Ok().json(HealthStatus {
        status: "ready".into(),
    }))
}

/// The default service: any path or method no route matches.
pub async fn no_route(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    ApiError::NotFound(format!(
        "no route for {} {}: see the API for the paths and their segments",
        req.method(),
        req.path()
    ))
    .error_response()
}

/// JSON body settings for internal endpoints: a body that does not parse is a 400 naming why.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(1 << 20)
        .error_handler(|err, _req| ApiError::BadRequest(format!("invalid JSON body: {err}")).into())
}

//! The parts of an actix app that every service mounts the same way.
//!
//! - `/health/live` answers as long as the process serves requests;
//!   `/health/ready` only when its Redis answers PING within the bound.
//! - Unknown routes (extra or missing path segments, wrong method) and bodies
//!   that do not parse get the same JSON error body as every other failure.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::error::ApiError;
use crate::store::RedisStore;

/// Mounts `/health/live` and `/health/ready`; needs `web::Data<RedisStore>`.
pub fn health(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(live))
        .route("/health/ready", web::get().to(ready));
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "live"}))
}

async fn ready(store: web::Data<RedisStore>) -> Result<HttpResponse, ApiError> {
    store.ping().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
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

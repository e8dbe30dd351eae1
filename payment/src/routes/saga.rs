//! The saga participant endpoints (internal port only).

use actix_web::{web, HttpResponse};
use common::params::{Amount, Id};
use common::participant::ChargeRequest;
use common::ApiError;

use crate::store::PaymentStore;

#[tracing::instrument(skip(store, body), fields(user_id = %body.user_id, amount = body.amount))]
pub async fn charge(
    store: web::Data<PaymentStore>,
    path: web::Path<String>,
    body: web::Json<ChargeRequest>,
) -> Result<HttpResponse, ApiError> {
    let saga = Id::parse("saga_id", &path)?;
    let user = Id::parse("user_id", &body.user_id)?;
    let amount = Amount::new(body.amount).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "amount {} must be a non-negative integer",
            body.amount
        ))
    })?;
    let reply = store.charge(&saga, &user, amount).await?;
    Ok(HttpResponse::Ok().json(reply))
}

#[tracing::instrument(skip(store))]
pub async fn refund(
    store: web::Data<PaymentStore>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let saga = Id::parse("saga_id", &path)?;
    let reply = store.refund(&saga).await?;
    Ok(HttpResponse::Ok().json(reply))
}

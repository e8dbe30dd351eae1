//! The saga participant endpoints (internal port only).

use actix_web::{web, HttpResponse};
use common::params::{Amount, Id};
use common::participant::{run_batch, Batch, ChargeRequest};
use common::ApiError;

use crate::store::PaymentStore;

/// A batch of charges, one per saga (see `common::participant`).
#[tracing::instrument(skip_all, fields(calls = body.calls.len()))]
pub async fn charge(
    store: web::Data<PaymentStore>,
    body: web::Json<Batch<ChargeRequest>>,
) -> Result<HttpResponse, ApiError> {
    let calls = body.into_inner().parse(|req| {
        let user = Id::parse("user_id", &req.user_id)?;
        let amount = Amount::new(req.amount).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "amount {} must be a non-negative integer",
                req.amount
            ))
        })?;
        Ok((user, amount))
    })?;
    run_batch("charge", calls, |saga, (user, amount)| {
        let store = store.clone();
        async move { store.charge(&saga, &user, amount).await }
    })
    .await
}

/// Undoes a saga's charge; the body names the user it charged (the saga's record
/// lives beside the user).
#[tracing::instrument(skip(store, body))]
pub async fn refund(
    store: web::Data<PaymentStore>,
    path: web::Path<String>,
    body: web::Json<ChargeRequest>,
) -> Result<HttpResponse, ApiError> {
    let saga = Id::parse("saga_id", &path)?;
    let user = Id::parse("user_id", &body.user_id)?;
    let reply = store.refund(&saga, &user).await?;
    Ok(HttpResponse::Ok().json(reply))
}

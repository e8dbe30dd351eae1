//! The public user endpoints.

use actix_web::{web, HttpResponse};
use common::params::{Amount, Id, Quantity};
use common::ApiError;
use serde_json::json;

use crate::store::{Adjusted, PaymentStore};

/// Largest `n` a batch init accepts.
const MAX_BATCH: i64 = 10_000_000;

#[tracing::instrument(skip(store))]
pub async fn create(store: web::Data<PaymentStore>) -> Result<HttpResponse, ApiError> {
    let id = store.create().await?;
    Ok(HttpResponse::Ok().json(json!({ "user_id": id.as_str() })))
}

#[tracing::instrument(skip(store))]
pub async fn find(
    store: web::Data<PaymentStore>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Id::parse("user_id", &path)?;
    let credit = store.credit(&id).await?.ok_or_else(|| not_found(&id))?;
    Ok(HttpResponse::Ok().json(json!({ "user_id": id.as_str(), "credit": credit })))
}

#[tracing::instrument(skip(store))]
pub async fn add_funds(
    store: web::Data<PaymentStore>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, amount) = parse_change(&path)?;
    match store.add_funds(&id, amount).await? {
        Adjusted::Done(_) => Ok(HttpResponse::Ok().json(json!({ "done": true }))),
        other => Err(refusal(&id, amount, other)),
    }
}

#[tracing::instrument(skip(store))]
pub async fn pay(
    store: web::Data<PaymentStore>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, amount) = parse_change(&path)?;
    match store.pay(&id, amount).await? {
        Adjusted::Done(credit) => {
            Ok(HttpResponse::Ok().json(json!({ "user_id": id.as_str(), "credit": credit })))
        }
        other => Err(refusal(&id, amount, other)),
    }
}

#[tracing::instrument(skip(store))]
pub async fn batch_init(
    store: web::Data<PaymentStore>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let n = Quantity::parse_at_most("n", &path.0, MAX_BATCH)?;
    let credit = Amount::parse("starting_money", &path.1)?;
    store.batch_init(n, credit).await?;
    Ok(HttpResponse::Ok().json(json!({
        "msg": format!("created users \"0\"..\"{}\" with credit {}", n.get() - 1, credit.get())
    })))
}

fn parse_change(path: &(String, String)) -> Result<(Id, Amount), ApiError> {
    Ok((
        Id::parse("user_id", &path.0)?,
        Amount::parse("amount", &path.1)?,
    ))
}

/// The error for every outcome but success.
fn refusal(id: &Id, amount: Amount, adjusted: Adjusted) -> ApiError {
    match adjusted {
        Adjusted::Done(_) => ApiError::Internal("a success is not a refusal".into()),
        Adjusted::Insufficient(credit) => ApiError::Conflict(format!(
            "user {id} has credit {credit}, {} needed",
            amount.get()
        )),
        Adjusted::Missing => not_found(id),
        Adjusted::Overflow => ApiError::Conflict(format!(
            "adding {} to the credit of user {id} would overflow a 64-bit integer",
            amount.get()
        )),
    }
}

fn not_found(id: &Id) -> ApiError {
    ApiError::NotFound(format!("user {id} not found"))
}

//! The public user endpoints. Each handler's `#[utoipa::path]` is its entry
//! in the API document (`/docs/`): keep it next to the code it describes.

use actix_web::{web, HttpResponse};
use common::api::{BatchInitReply, Done};
use common::error::ErrorBody;
use common::idempotency::{IdempotencyKey, KeyHeader};
use common::params::{Amount, BatchSize, Id};
use common::participant::{Adjusted, Change};
use common::ApiError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::PaymentStore;

/// The answer of `create_user`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserCreated {
    pub user_id: String,
}

/// A user and their credit (`find_user`, and `pay` afterwards).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub user_id: String,
    #[schema(minimum = 0)]
    pub credit: i64,
}

#[utoipa::path(
    post,
    path = "/create_user",
    summary = "Create a user; their credit starts at 0",
    params(KeyHeader),
    responses(
        (status = 200, description = "The new user's id.", body = UserCreated),
        (status = 400, description = "The `Idempotency-Key` header is malformed; nothing changed.", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` was used before for another request; nothing changed.", body = ErrorBody),
        (status = "5XX", description = "The payment store did not answer.", body = ErrorBody),
    )
)]
#[tracing::instrument(skip(store, idem))]
pub async fn create(
    store: web::Data<PaymentStore>,
    idem: IdempotencyKey,
) -> Result<HttpResponse, ApiError> {
    let id = store.create(&idem).await?;
    Ok(HttpResponse::Ok().json(UserCreated {
        user_id: id.into_string(),
    }))
}

#[utoipa::path(
    get,
    path = "/find_user/{user_id}",
    summary = "A user's credit",
    params(("user_id" = inline(Id), Path, description = "The user.")),
    responses(
        (status = 200, description = "The user.", body = UserView),
        (status = 400, description = "`user_id` is not a valid id.", body = ErrorBody),
        (status = 404, description = "No such user.", body = ErrorBody),
        (status = "5XX", description = "The payment store did not answer.", body = ErrorBody),
    )
)]
#[tracing::instrument(skip(store))]
pub async fn find(
    store: web::Data<PaymentStore>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = Id::parse("user_id", &path)?;
    let credit = store.credit(&id).await?.ok_or_else(|| not_found(&id))?;
    Ok(HttpResponse::Ok().json(UserView {
        user_id: id.into_string(),
        credit,
    }))
}

#[utoipa::path(
    post,
    path = "/add_funds/{user_id}/{amount}",
    summary = "Add to a user's credit",
    params(
        KeyHeader,
        ("user_id" = inline(Id), Path, description = "The user."),
        ("amount" = inline(Amount), Path, description = "How much to add."),
    ),
    responses(
        (status = 200, description = "The credit was added.", body = Done),
        (status = 400, description = "`user_id`, `amount` or the `Idempotency-Key` header is malformed.", body = ErrorBody),
        (status = 404, description = "No such user; nothing changed.", body = ErrorBody),
        (status = 409, description = "The credit would exceed 2^63-1; nothing changed.", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` was used before for another request; nothing changed.", body = ErrorBody),
        (status = "5XX", description = "The payment store did not answer.", body = ErrorBody),
    )
)]
#[tracing::instrument(skip(store, idem))]
pub async fn add_funds(
    store: web::Data<PaymentStore>,
    idem: IdempotencyKey,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, amount) = Change::parse_path("user_id", &path)?;
    match store.adjust(&idem, &id, Change::Add(amount)).await? {
        Adjusted::Done(_) => Ok(HttpResponse::Ok().json(Done { done: true })),
        other => Err(refusal(&id, amount, other)),
    }
}

#[utoipa::path(
    post,
    path = "/pay/{user_id}/{amount}",
    summary = "Take from a user's credit, never below 0",
    params(
        KeyHeader,
        ("user_id" = inline(Id), Path, description = "The user."),
        ("amount" = inline(Amount), Path, description = "How much to take."),
    ),
    responses(
        (status = 200, description = "The credit afterwards.", body = UserView),
        (status = 400, description = "`user_id`, `amount` or the `Idempotency-Key` header is malformed.", body = ErrorBody),
        (status = 404, description = "No such user; nothing changed.", body = ErrorBody),
        (status = 409, description = "Not enough credit; nothing changed.", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` was used before for another request; nothing changed.", body = ErrorBody),
        (status = "5XX", description = "The payment store did not answer.", body = ErrorBody),
    )
)]
#[tracing::instrument(skip(store, idem))]
pub async fn pay(
    store: web::Data<PaymentStore>,
    idem: IdempotencyKey,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, amount) = Change::parse_path("user_id", &path)?;
    match store.adjust(&idem, &id, Change::Subtract(amount)).await? {
        Adjusted::Done(credit) => Ok(HttpResponse::Ok().json(UserView {
            user_id: id.to_string(),
            credit,
        })),
        other => Err(refusal(&id, amount, other)),
    }
}

#[utoipa::path(
    post,
    path = "/batch_init/{n}/{starting_money}",
    summary = "Create (or reset) users \"0\"..\"n-1\" with the same credit",
    params(
        KeyHeader,
        ("n" = inline(BatchSize), Path, description = "How many users."),
        ("starting_money" = inline(Amount), Path, description = "The credit of each."),
    ),
    responses(
        (status = 200, description = "What was created.", body = BatchInitReply),
        (status = 400, description = "A parameter or the `Idempotency-Key` header is malformed, or out of range.", body = ErrorBody),
        (status = 422, description = "The `Idempotency-Key` was used before for another request; nothing changed.", body = ErrorBody),
        (status = "5XX", description = "The payment store did not answer.", body = ErrorBody),
    )
)]
#[tracing::instrument(skip(store, idem))]
pub async fn batch_init(
    store: web::Data<PaymentStore>,
    idem: IdempotencyKey,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let n = BatchSize::parse("n", &path.0)?.quantity();
    let credit = Amount::parse("starting_money", &path.1)?;
    store.batch_init(&idem, n, credit).await?;
    Ok(HttpResponse::Ok().json(BatchInitReply {
        msg: format!(
            "created users \"0\"..\"{}\" with credit {}",
            n.get() - 1,
            credit.get()
        ),
    }))
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

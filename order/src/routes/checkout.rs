//! Checking an order out: the one place its result becomes an HTTP answer.

use actix_web::{web, HttpResponse};
use common::error::ErrorBody;
use common::idempotency::{IdempotencyKey, KeyHeader};
use common::params::Id;
use common::ApiError;

use super::{Ctx, Paid};
use crate::saga::checkout::{checkout, CheckoutError};
use crate::saga::machine::Ending;

#[utoipa::path(
    post,
    path = "/checkout/{order_id}",
    summary = "Pay an order: take its items' stock and charge its user, all or nothing",
    description = "Waits for the outcome of the checkout's saga. Checking out a paid order \
        answers 200 again and charges nothing, so a checkout may be retried.",
    params(KeyHeader, ("order_id" = inline(Id), Path, description = "The order.")),
    responses(
        (status = 200, description = "The order is paid.", body = Paid),
        (status = 400, description = "`order_id` or the `Idempotency-Key` header is malformed, or the order's quantities overflow.", body = ErrorBody),
        (status = 404, description = "No such order.", body = ErrorBody),
        (status = 409, description = "Not enough stock or credit (or an item or the user is gone); nothing changed.", body = ErrorBody),
        (status = "5XX", description = "The outcome could not be learned in time; retry to learn it.", body = ErrorBody),
    )
)]
pub(super) async fn checkout_order(
    ctx: Ctx,
    // Checked like every write's, though a checkout needs no record: it is idempotent by order.
    _key: IdempotencyKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = Id::parse("order_id", &path)?;
    checkout_answer(checkout(&ctx, &order).await)
}

/// The one place a checkout's result becomes its HTTP answer (the statuses the
/// document above lists).
fn checkout_answer(result: Result<Ending, CheckoutError>) -> Result<HttpResponse, ApiError> {
    match result {
        Ok(Ending::Committed) => Ok(HttpResponse::Ok().json(Paid { paid: true })),
        Ok(Ending::Aborted(reason)) => Err(ApiError::Conflict(reason)),
        Err(e @ CheckoutError::UnknownOrder(_)) => Err(ApiError::NotFound(e.to_string())),
        Err(e @ CheckoutError::Overflow { .. }) => Err(ApiError::BadRequest(e.to_string())),
        Err(e @ CheckoutError::OutcomeUnknown { .. }) => Err(ApiError::Unavailable(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::ResponseError;

    use super::*;

    fn status(result: Result<Ending, CheckoutError>) -> u16 {
        match checkout_answer(result) {
            Ok(resp) => resp.status().as_u16(),
            Err(e) => e.status_code().as_u16(),
        }
    }

    #[test]
    fn a_checkout_answers_200_409_404_400_or_503() {
        let order = || Id::generated("o1".into());
        assert_eq!(status(Ok(Ending::Committed)), 200);
        assert_eq!(status(Ok(Ending::Aborted("no stock".into()))), 409);
        assert_eq!(status(Err(CheckoutError::UnknownOrder(order()))), 404);
        let item = Id::generated("i1".into());
        assert_eq!(
            status(Err(CheckoutError::Overflow {
                order: order(),
                item
            })),
            400
        );
        let last_error = "redis is down".into();
        assert_eq!(
            status(Err(CheckoutError::OutcomeUnknown {
                order: order(),
                last_error
            })),
            503
        );
    }

    #[test]
    fn a_refused_checkout_answers_the_participant_reason() {
        let Err(e) = checkout_answer(Ok(Ending::Aborted("item 7 has 0 in stock".into()))) else {
            panic!("a refused checkout is an error");
        };
        assert_eq!(e.to_string(), "item 7 has 0 in stock");
    }
}

//! The OpenAPI schema of each path parameter type: the same rules its parser
//! enforces, stated for the API document (and checked against the parser by
//! the property tests).

use std::borrow::Cow;

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use super::{Amount, BatchSize, Id, Quantity, MAX_ID_LEN};

/// The pattern every id matches (its length is bounded separately).
pub const ID_PATTERN: &str = "^[A-Za-z0-9_-]+$";

fn integer(min: i64, max: i64, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
        .description(Some(description))
        .into()
}

impl PartialSchema for Id {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_ID_LEN))
            .pattern(Some(ID_PATTERN))
            .description(Some(
                "An id: 1 to 64 letters, digits, '-' or '_' (ours are UUIDs or decimal numbers).",
            ))
            .into()
    }
}

impl ToSchema for Id {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Id")
    }
}

/// The schema of an integer parameter type `$ty`: `$min` to `$max`, as `$description`
/// says, named after the type.
macro_rules! integer_schema {
    ($ty:ident, $min:expr, $max:expr, $description:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                integer($min, $max, $description)
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }
        }
    };
}

integer_schema!(
    Amount,
    0,
    i64::MAX,
    "Money, a price or a stock amount: a whole number from 0 to 2^63-1 in plain \
     decimal digits (no sign, fraction or exponent)."
);

integer_schema!(
    Quantity,
    1,
    i64::MAX,
    "A quantity or a count: a whole number from 1 to 2^63-1 in plain decimal digits."
);

integer_schema!(
    BatchSize,
    1,
    BatchSize::MAX,
    "How many entries a batch init creates: 1 to 10 000 000, in plain decimal digits."
);

//! Path parameters, parsed at the edge into values that cannot be invalid.
//!
//! Numbers are plain decimal digits: no sign, no fraction, no spaces, and they
//! must fit in an `i64`. Ids are short strings of `[A-Za-z0-9_-]`, which keeps
//! them safe inside Redis keys and the separators our scripts use. Every error
//! names the parameter and quotes the value it refused.

use crate::error::ApiError;

/// Longest id we accept; our own ids are UUIDs (36) or decimal numbers.
pub const MAX_ID_LEN: usize = 64;

/// An id of an item, user, order or saga.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Id(String);

impl Id {
    pub fn parse(name: &str, raw: &str) -> Result<Self, ApiError> {
        let ok = !raw.is_empty()
            && raw.len() <= MAX_ID_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Id(raw.to_string()))
        } else {
            Err(ApiError::BadRequest(format!(
                "{name} {raw:?} must be 1 to {MAX_ID_LEN} characters of letters, digits, '-' or '_'"
            )))
        }
    }

    /// Wraps an id we generated ourselves (a UUID or a batch index).
    pub fn generated(id: String) -> Self {
        Id(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Money, a price or a stock amount: zero or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Amount(i64);

impl Amount {
    pub fn parse(name: &str, raw: &str) -> Result<Self, ApiError> {
        parse_digits(name, raw, "a non-negative integer").map(Amount)
    }

    pub fn new(value: i64) -> Option<Self> {
        (value >= 0).then_some(Amount(value))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A quantity of an item in an order, or a count of entries to create: one or more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity(i64);

impl Quantity {
    pub fn parse(name: &str, raw: &str) -> Result<Self, ApiError> {
        let value = parse_digits(name, raw, "a positive integer")?;
        if value == 0 {
            return Err(ApiError::BadRequest(format!(
                "{name} {raw:?} must be a positive integer"
            )));
        }
        Ok(Quantity(value))
    }

    /// Like [`Quantity::parse`], with an upper bound (batch sizes).
    pub fn parse_at_most(name: &str, raw: &str, max: i64) -> Result<Self, ApiError> {
        let q = Self::parse(name, raw)?;
        if q.0 > max {
            return Err(ApiError::BadRequest(format!(
                "{name} {raw:?} must be at most {max}"
            )));
        }
        Ok(q)
    }

    pub fn one() -> Self {
        Quantity(1)
    }

    pub fn new(value: i64) -> Option<Self> {
        (value > 0).then_some(Quantity(value))
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

fn parse_digits(name: &str, raw: &str, what: &str) -> Result<i64, ApiError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest(format!(
            "{name} {raw:?} must be {what}"
        )));
    }
    raw.parse::<i64>().map_err(|_| {
        ApiError::BadRequest(format!(
            "{name} {raw:?} does not fit in a 64-bit signed integer"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(e: ApiError) -> String {
        match e {
            ApiError::BadRequest(m) => m,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn amounts_accept_plain_digits_up_to_i64_max() {
        assert_eq!(Amount::parse("amount", "0").unwrap().get(), 0);
        assert_eq!(Amount::parse("amount", "007").unwrap().get(), 7);
        assert_eq!(
            Amount::parse("amount", "9223372036854775807")
                .unwrap()
                .get(),
            i64::MAX
        );
    }

    #[test]
    fn amounts_refuse_signs_fractions_and_overflow() {
        for raw in [
            "-3",
            "+3",
            "5.83",
            "1e3",
            " 1",
            "",
            "abc",
            "9223372036854775808",
        ] {
            let msg = message(Amount::parse("amount", raw).unwrap_err());
            assert!(msg.starts_with("amount "), "{msg}");
            assert!(msg.contains(&format!("{raw:?}")), "{msg}");
        }
    }

    #[test]
    fn quantities_must_be_positive() {
        assert!(Quantity::parse("quantity", "0").is_err());
        assert_eq!(Quantity::parse("quantity", "3").unwrap().get(), 3);
        assert!(Quantity::parse_at_most("n", "11", 10).is_err());
    }

    #[test]
    fn ids_refuse_separators_and_empty() {
        for raw in ["", "a|b", "a:b", "a b", "a;b", &"x".repeat(65)] {
            assert!(Id::parse("item_id", raw).is_err(), "{raw}");
        }
        assert_eq!(Id::parse("item_id", "0").unwrap().as_str(), "0");
    }

    proptest! {
        #[test]
        fn any_string_is_an_amount_or_a_400_naming_the_parameter(raw in ".*") {
            match Amount::parse("price", &raw) {
                Ok(a) => {
                    prop_assert!(raw.bytes().all(|b| b.is_ascii_digit()));
                    prop_assert_eq!(raw.parse::<i64>().ok(), Some(a.get()));
                }
                Err(ApiError::BadRequest(m)) => prop_assert!(m.starts_with("price ")),
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }

        #[test]
        fn every_i64_in_decimal_round_trips(v in 0i64..) {
            prop_assert_eq!(Amount::parse("amount", &v.to_string()).unwrap().get(), v);
        }

        #[test]
        fn any_string_is_an_id_or_a_400_naming_the_parameter(raw in ".*") {
            match Id::parse("order_id", &raw) {
                Ok(id) => prop_assert_eq!(id.as_str(), raw.as_str()),
                Err(ApiError::BadRequest(m)) => prop_assert!(m.starts_with("order_id ")),
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}

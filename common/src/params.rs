//! Path parameters, parsed at the edge into values that cannot be invalid.
//!
//! Numbers are plain decimal digits: no sign, no fraction, no spaces, and they
//! must fit in an `i64`. Ids are short strings of `[A-Za-z0-9_-]`, which keeps
//! them safe inside Redis keys and the separators our scripts use. Every error
//! names the parameter and quotes the value it refused.
//!
//! Each type also states its rules as an OpenAPI schema (`schema.rs`), which
//! the API document uses for every path parameter; the property tests
//! (`tests.rs`) check that the parser and the schema accept the same values.

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

/// How many entries a `batch_init` creates: 1 to [`BatchSize::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BatchSize(Quantity);

impl BatchSize {
    /// Largest batch: ten million entries keep one call within minutes.
    pub const MAX: i64 = 10_000_000;

    pub fn parse(name: &str, raw: &str) -> Result<Self, ApiError> {
        Quantity::parse_at_most(name, raw, Self::MAX).map(BatchSize)
    }

    pub fn quantity(self) -> Quantity {
        self.0
    }

    pub fn get(self) -> i64 {
        self.0.get()
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

mod schema;
#[cfg(test)]
mod tests;

//! The order store's records (orders, their lines, the edit scripts' answers)
//! and how Redis' answers are read back into them and into sagas.
//!
//! Pure parsing of what `store.rs` read: it never talks to Redis and never
//! builds a key, and anything our own scripts would never write is
//! [`StoreError::Corrupt`].

use std::collections::BTreeMap;

use common::params::Id;
use common::StoreError;

use crate::saga::log::SagaRecord;
use crate::saga::machine::State;

/// One addItem call as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub item: Id,
    pub qty: i64,
    pub cost: i64,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub user: Id,
    pub paid: bool,
    pub cost: i64,
    pub lines: Vec<Line>,
}

/// Why an order cannot be edited.
#[derive(Debug, PartialEq, Eq)]
pub enum Edit {
    Ok,
    Missing,
    Paid,
    Busy,
    Overflow,
    Absent,
}

pub(super) fn parse_edit(answer: &str) -> Result<Edit, StoreError> {
    Ok(match answer {
        "ok" => Edit::Ok,
        "missing" => Edit::Missing,
        "paid" => Edit::Paid,
        "busy" => Edit::Busy,
        "overflow" => Edit::Overflow,
        "absent" => Edit::Absent,
        other => {
            return Err(StoreError::Corrupt(format!(
                "order script answered {other:?}"
            )))
        }
    })
}

/// An id read back from this store: it was parsed (or generated) before it was written.
pub(super) fn stored_id(raw: String) -> Id {
    Id::generated(raw)
}

pub(super) fn int(what: &str, raw: Option<&String>) -> Result<i64, StoreError> {
    raw.and_then(|v| v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt(format!("{what} is {raw:?}")))
}

pub(super) fn parse_order(id: &Id, f: &BTreeMap<String, String>) -> Result<Order, StoreError> {
    let mut lines = Vec::new();
    for entry in f
        .get("lines")
        .map_or("", String::as_str)
        .split(';')
        .filter(|e| !e.is_empty())
    {
        let mut parts = entry.split('|');
        let (Some(item), qty, cost) = (parts.next(), parts.next(), parts.next()) else {
            return Err(StoreError::Corrupt(format!("order {id} line {entry:?}")));
        };
        lines.push(Line {
            item: stored_id(item.to_string()),
            qty: int("line quantity", qty.map(str::to_string).as_ref())?,
            cost: int("line cost", cost.map(str::to_string).as_ref())?,
        });
    }
    Ok(Order {
        user: stored_id(f.get("user").cloned().unwrap_or_default()),
        paid: f.get("paid").is_some_and(|p| p == "1"),
        cost: int("order cost", f.get("cost"))?,
        lines,
    })
}

/// A saga's items as logged: "item|qty;item|qty".
pub(super) fn parse_items(id: &Id, raw: &str) -> Result<Vec<(String, i64)>, StoreError> {
    raw.split(';')
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (item, qty) = entry
                .split_once('|')
                .ok_or_else(|| StoreError::Corrupt(format!("saga {id} item {entry:?}")))?;
            let qty = qty
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("saga {id} quantity {entry:?}")))?;
            Ok((item.to_string(), qty))
        })
        .collect()
}

pub(super) fn parse_saga(
    id: &Id,
    fields: BTreeMap<String, String>,
) -> Result<SagaRecord, StoreError> {
    let state = fields
        .get("state")
        .and_then(|s| State::parse(s))
        .ok_or_else(|| StoreError::Corrupt(format!("saga {id} state {:?}", fields.get("state"))))?;
    let items = parse_items(id, fields.get("items").map_or("", String::as_str))?;
    Ok(SagaRecord {
        id: id.clone(),
        order: stored_id(fields.get("order").cloned().unwrap_or_default()),
        user: stored_id(fields.get("user").cloned().unwrap_or_default()),
        amount: int("saga amount", fields.get("amount"))?,
        items,
        state,
        reason: fields.get("reason").cloned(),
        fields,
    })
}

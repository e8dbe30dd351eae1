//! The order store's records (orders, their lines, the edit scripts' answers): how
//! an order is encoded in its hash's fields, and how Redis' answers are read back
//! into them and into sagas.
//!
//! The one place in Rust that knows the stored format (`lines` as
//! "item|qty|cost;...", a saga's `items` as "item|qty;..."; the Lua scripts know it
//! too). Pure: it never talks to Redis and never builds a key, and anything our own
//! scripts would never write is [`StoreError::Corrupt`].

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

impl Order {
    /// An empty, unpaid order of `user`.
    pub fn new(user: Id) -> Self {
        Order {
            user,
            paid: false,
            cost: 0,
            lines: Vec::new(),
        }
    }
}

/// The fields of an order's hash, as written (a `busy` saga is the scripts' only).
pub(super) fn order_fields(order: &Order) -> [(&'static str, String); 4] {
    let lines: Vec<String> = order
        .lines
        .iter()
        .map(|l| format!("{}|{}|{}", l.item, l.qty, l.cost))
        .collect();
    [
        ("user", order.user.as_str().to_string()),
        ("paid", if order.paid { "1" } else { "0" }.to_string()),
        ("cost", order.cost.to_string()),
        ("lines", lines.join(";")),
    ]
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

pub(super) fn stored_int(what: &str, raw: Option<&String>) -> Result<i64, StoreError> {
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
            qty: stored_int("line quantity", qty.map(str::to_string).as_ref())?,
            cost: stored_int("line cost", cost.map(str::to_string).as_ref())?,
        });
    }
    Ok(Order {
        user: stored_id(f.get("user").cloned().unwrap_or_default()),
        paid: f.get("paid").is_some_and(|p| p == "1"),
        cost: stored_int("order cost", f.get("cost"))?,
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
        amount: stored_int("saga amount", fields.get("amount"))?,
        items,
        state,
        reason: fields.get("reason").cloned(),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> Id {
        Id::generated(raw.to_string())
    }

    #[test]
    fn an_order_reads_back_as_it_was_written() {
        let line = |item: &str, qty, cost| Line {
            item: id(item),
            qty,
            cost,
        };
        let order = Order {
            user: id("u1"),
            paid: true,
            cost: 12,
            lines: vec![line("a", 1, 5), line("b", 2, 7)],
        };
        let fields: BTreeMap<String, String> = order_fields(&order)
            .into_iter()
            .map(|(field, value)| (field.to_string(), value))
            .collect();
        assert_eq!(fields["lines"], "a|1|5;b|2|7");
        assert_eq!(fields["paid"], "1");
        let read = parse_order(&id("o1"), &fields).expect("parsed");
        assert_eq!((read.user, read.paid, read.cost), (id("u1"), true, 12));
        assert_eq!(read.lines, order.lines);
    }

    #[test]
    fn a_new_order_is_stored_empty_and_unpaid() {
        let fields = order_fields(&Order::new(id("u1")));
        let expected = [("user", "u1"), ("paid", "0"), ("cost", "0"), ("lines", "")];
        for ((field, value), (want_field, want)) in fields.iter().zip(expected) {
            assert_eq!((*field, value.as_str()), (want_field, want));
        }
    }
}

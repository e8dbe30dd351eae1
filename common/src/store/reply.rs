//! Reading raw reply values (`CLUSTER SLOTS`, `WAIT`, `CONFIG GET`) that no `FromRedisValue`
//! conversion fits; `None` for anything else than the expected shape.

use redis::Value;

/// An integer reply.
pub(super) fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

/// A bulk or simple string reply, as UTF-8.
pub(super) fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

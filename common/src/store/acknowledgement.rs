//! The acknowledgement rule, and nothing else: when a write may be answered.
//!
//! A write is acknowledged once a replica has it (`WAIT 1` counted one), or once its
//! master is known to have no replica online (`ROLE` lists none): then the write is on
//! the master's `appendfsync always` AOF, and the one failure the topology survives has
//! already happened. A master with a replica online that did not acknowledge in time
//! does not acknowledge the write; the store sends it again. See [`super::replicas`]
//! for how writes travel, and docs/design.md, "Storage", for why.
//!
//! Pure: it reads answers and decides; it never talks to Redis.

use std::time::Duration;

use redis::{Cmd, Value};

use super::reply::int;

/// What ends a pipeline of writes: `WAIT 1 <ms>`, or `ROLE` for a master taken to be
/// alone (which costs no wait, and shows at once a replica that came back).
pub(super) fn check_cmd(alone: bool, replica_wait: Duration) -> Cmd {
    if alone {
        redis::cmd("ROLE")
    } else {
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(1).arg(replica_wait.as_millis() as u64);
        cmd
    }
}

/// What a pipeline's last answer says about the writes before it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// A replica has them: acknowledged.
    Replicated,
    /// `WAIT` counted no replica: ask the master with `ROLE` whether one is online,
    /// and judge that answer with [`judge_role`].
    AskRole,
    /// The master has no replica online: acknowledged on its AOF alone.
    Alone,
    /// This many replicas are online and none acknowledged in time: not acknowledged.
    Lagging(usize),
    /// The node is no master any more: not acknowledged.
    NotMaster,
}

/// Judges the answer of the [`check_cmd`] that ended a pipeline.
pub(super) fn judge(alone: bool, check: &Value) -> Verdict {
    if alone {
        judge_role(check)
    } else if int(check).unwrap_or(0) >= 1 {
        Verdict::Replicated
    } else {
        Verdict::AskRole
    }
}

/// Judges a master's `ROLE` answer by how many replicas it lists as online.
pub(super) fn judge_role(role: &Value) -> Verdict {
    match online_replicas(role) {
        Some(0) => Verdict::Alone,
        Some(n) => Verdict::Lagging(n),
        None => Verdict::NotMaster,
    }
}

/// How many replicas a `ROLE` answer lists as online (`None`: the node is no master).
fn online_replicas(role: &Value) -> Option<usize> {
    let Value::Array(fields) = role else {
        return None;
    };
    let is_master = match fields.first()? {
        Value::BulkString(b) => b.as_slice() == b"master",
        Value::SimpleString(s) => s == "master",
        _ => false,
    };
    if !is_master {
        return None;
    }
    match fields.get(2)? {
        Value::Array(replicas) => Some(replicas.len()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn master(replicas: Vec<Value>) -> Value {
        Value::Array(vec![bulk("master"), Value::Int(42), Value::Array(replicas)])
    }

    #[test]
    fn role_answers_count_online_replicas() {
        let replica = Value::Array(vec![bulk("127.0.0.1"), bulk("7001"), bulk("42")]);
        assert_eq!(online_replicas(&master(vec![])), Some(0));
        assert_eq!(
            online_replicas(&master(vec![replica.clone(), replica])),
            Some(2)
        );
        let slave = Value::Array(vec![bulk("slave"), bulk("127.0.0.1"), Value::Int(7000)]);
        assert_eq!(online_replicas(&slave), None);
        assert_eq!(online_replicas(&Value::Nil), None);
    }

    #[test]
    fn a_write_is_acknowledged_on_a_replica_or_on_a_master_with_none_online() {
        let replica = Value::Array(vec![bulk("127.0.0.1"), bulk("7001"), bulk("42")]);
        assert_eq!(judge(false, &Value::Int(1)), Verdict::Replicated);
        assert_eq!(judge(false, &Value::Int(0)), Verdict::AskRole);
        assert_eq!(judge(true, &master(vec![])), Verdict::Alone);
        assert_eq!(
            judge(true, &master(vec![replica.clone()])),
            Verdict::Lagging(1)
        );
        assert_eq!(judge_role(&master(vec![replica])), Verdict::Lagging(1));
        assert_eq!(judge_role(&Value::Nil), Verdict::NotMaster);
    }
}

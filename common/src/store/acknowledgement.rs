//! The acknowledgement rule, and nothing else: when a write may be answered.
//!
//! A write is acknowledged once as many replicas as its master requires have it: `WAIT n`
//! counted `n`, where `n` is the master's own `min-replicas-to-write` (1 in every topology
//! we ship: three copies of each shard, so an acknowledged write is on two of the three).
//! There is no other path: a master whose replicas are down or behind does not
//! acknowledge, whatever `ROLE` or the slot map say about them; the store sends the write
//! again (every write of ours is safe to repeat) until `REDIS_WAIT_MS` has passed. Only a
//! master configured with `min-replicas-to-write 0` (a deployment without replicas, where
//! the operator chose one copy) acknowledges on its own fsynced AOF. See
//! [`super::replicas`] for how writes travel, and docs/design.md, "Storage", for why.
//!
//! Pure: it reads answers and decides; it never talks to Redis.

use std::time::Duration;

use redis::{Cmd, Value};

use super::reply::{int, text};

/// The command that asks a master which nodes hold the writes before it.
pub(super) fn required_cmd() -> Cmd {
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("GET").arg("min-replicas-to-write");
    cmd
}

/// How many replicas a master requires, from its answer to [`required_cmd`]; `None` when
/// the answer says nothing (then the caller assumes 1: never less safe than configured).
pub(super) fn read_required(answer: &Value) -> Option<usize> {
    let value = match answer {
        Value::Array(fields) => fields.get(1)?,
        Value::Map(pairs) => &pairs.first()?.1,
        _ => return None,
    };
    text(value)?.parse().ok()
}

/// What ends a pipeline of writes to a master that requires `required` replicas:
/// `WAIT required <ms>`, or nothing when it requires none.
pub(super) fn check_cmd(required: usize, replica_wait: Duration) -> Option<Cmd> {
    (required > 0).then(|| {
        let mut cmd = redis::cmd("WAIT");
        cmd.arg(required).arg(replica_wait.as_millis() as u64);
        cmd
    })
}

/// What a pipeline's last answer says about the writes before it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Enough replicas have them (or the master requires none): acknowledged.
    Acknowledged,
    /// Fewer replicas than required acknowledged in time: not acknowledged.
    Short { counted: usize, required: usize },
}

/// Judges the answer of the [`check_cmd`] that ended a pipeline (`None`: there was none).
pub(super) fn judge(required: usize, check: Option<&Value>) -> Verdict {
    let counted = check
        .and_then(int)
        .map_or(0, |n| usize::try_from(n).unwrap_or(0));
    if required == 0 || counted >= required {
        Verdict::Acknowledged
    } else {
        Verdict::Short { counted, required }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn a_write_is_acknowledged_only_when_the_required_replicas_have_it() {
        assert_eq!(judge(1, Some(&Value::Int(1))), Verdict::Acknowledged);
        assert_eq!(judge(1, Some(&Value::Int(2))), Verdict::Acknowledged);
        assert_eq!(
            judge(1, Some(&Value::Int(0))),
            Verdict::Short {
                counted: 0,
                required: 1
            }
        );
        assert_eq!(
            judge(2, Some(&Value::Int(1))),
            Verdict::Short {
                counted: 1,
                required: 2
            }
        );
        // No answer to count (an error in its place) is no acknowledgement.
        assert_eq!(
            judge(1, None),
            Verdict::Short {
                counted: 0,
                required: 1
            }
        );
        // A master that requires no replica: acknowledged on its AOF.
        assert_eq!(judge(0, None), Verdict::Acknowledged);
    }

    #[test]
    fn only_a_master_requiring_replicas_gets_a_wait() {
        assert!(check_cmd(0, Duration::from_millis(250)).is_none());
        let wait = check_cmd(1, Duration::from_millis(250)).expect("a WAIT");
        assert_eq!(wait.args_iter().count(), 3);
    }

    #[test]
    fn the_required_count_is_read_from_config_get() {
        let resp2 = Value::Array(vec![bulk("min-replicas-to-write"), bulk("1")]);
        assert_eq!(read_required(&resp2), Some(1));
        let resp3 = Value::Map(vec![(bulk("min-replicas-to-write"), bulk("0"))]);
        assert_eq!(read_required(&resp3), Some(0));
        assert_eq!(read_required(&Value::Array(vec![])), None);
        assert_eq!(read_required(&Value::Nil), None);
    }
}

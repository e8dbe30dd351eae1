//! How the replies of a participant's Lua scripts are read back: the step
//! scripts' tags become a [`StepReply`], and anything our own scripts never answer
//! is [`StoreError::Corrupt`], never a guess.
//!
//! Only the protocol's tags are known here (`done`, `refused`, `undone`,
//! `cancelled`); a participant whose script answers one more (stock's `full`)
//! handles that tag before it calls [`step_reply`].

use redis::Script;

use super::wire::{Outcome, StepReply};
use crate::store::StoreError;

/// A forward step script (reserve, charge): `body` after `scripts/recorded.lua`, whose
/// `recorded(taken, undone)` answers a repeat with the outcome the saga's record holds.
pub fn step_script(body: &str) -> Script {
    Script::new(&format!("{}{body}", include_str!("scripts/recorded.lua")))
}

/// The reply of a step script (`{"done"}`, `{"refused", reason}`, `{"undone"}`,
/// `{"cancelled"}`) as the protocol's [`StepReply`]; `script` names it in errors.
pub fn step_reply(script: &str, reply: &[String]) -> Result<StepReply, StoreError> {
    let (outcome, reason) = match reply {
        [tag] if tag == "done" => (Outcome::Done, None),
        [tag] if tag == "undone" => (Outcome::Undone, None),
        [tag] if tag == "cancelled" => (Outcome::Cancelled, None),
        [tag, reason] if tag == "refused" => (Outcome::Refused, Some(reason.clone())),
        other => return Err(unexpected(script, other)),
    };
    Ok(StepReply { outcome, reason })
}

/// An integer as a script or `HGET` returns it (a decimal string).
pub fn parse_int(raw: &str) -> Result<i64, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{raw:?} is not an integer")))
}

/// The error for a reply that `script` never gives.
pub fn unexpected(script: &str, reply: &[String]) -> StoreError {
    StoreError::Corrupt(format!("script {script} answered {reply:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn script_replies_map_to_step_outcomes() {
        let done = step_reply("t", &reply(&["done"])).expect("done");
        assert_eq!(done.outcome, Outcome::Done);
        let refused = step_reply("t", &reply(&["refused", "why"])).expect("refused");
        assert_eq!(refused.outcome, Outcome::Refused);
        assert_eq!(refused.reason.as_deref(), Some("why"));
        let undone = step_reply("t", &reply(&["undone"])).expect("undone");
        assert_eq!(undone.outcome, Outcome::Undone);
        let cancelled = step_reply("t", &reply(&["cancelled"])).expect("cancelled");
        assert_eq!(cancelled.outcome, Outcome::Cancelled);
    }

    #[test]
    fn unknown_script_replies_are_corrupt_data() {
        for parts in [&[][..], &["refused"][..], &["what"][..], &["done", "x"][..]] {
            assert!(matches!(
                step_reply("t", &reply(parts)),
                Err(StoreError::Corrupt(_))
            ));
        }
        assert!(matches!(parse_int("1.5"), Err(StoreError::Corrupt(_))));
    }
}

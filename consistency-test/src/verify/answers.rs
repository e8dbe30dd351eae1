//! The checks of what the requests answered, whatever the final state: the contract allows
//! no 5xx, no request without an answer, no refused set-up write, and a keyed repeat must get
//! the first answer and create nothing. Each failure class has its own check, so one fault
//! fails one line of the table.

use super::{Check, Kind, Observation};
use crate::api::{Answer, Exchange};
use crate::phase::Phase;
use std::collections::HashMap;

fn check(name: &'static str, discrepancies: Vec<String>) -> Check {
    Check {
        name,
        kind: Kind::Answers,
        discrepancies,
    }
}

pub(super) fn checks(obs: &Observation) -> Vec<Check> {
    vec![
        every_request_answered(obs),
        no_5xx(obs),
        setup_writes_accepted(obs),
        reads_answered_2xx(obs),
        one_entity_per_create(obs),
        repeats_answered_alike(obs),
    ]
}

/// Every answer of an exchange, the repeat marked as such.
fn answers(e: &Exchange) -> impl Iterator<Item = (&'static str, &Answer)> {
    std::iter::once(("", &e.answer)).chain(e.repeat.iter().map(|r| (" (keyed repeat)", r)))
}

fn every_request_answered(obs: &Observation) -> Check {
    let mut d = Vec::new();
    for e in obs.all_exchanges() {
        for (which, a) in answers(e) {
            if let Answer::NoAnswer(why) = a {
                d.push(format!(
                    "{}: {}{which}: no answer: {why}",
                    e.phase, e.request
                ));
            }
        }
    }
    check("every request answered (no conn error/timeout)", d)
}

fn no_5xx(obs: &Observation) -> Check {
    let mut d = Vec::new();
    for e in obs.all_exchanges() {
        for (which, a) in answers(e) {
            if a.is_5xx() {
                d.push(format!("{}: {}{which} answered {a}", e.phase, e.request));
            }
        }
    }
    check("no request answered 5xx", d)
}

/// The set-up writes must all be accepted (2xx); a 5xx or no answer is judged above, so
/// what is left here is a refusal (4xx) or an unexpected status.
fn setup_writes_accepted(obs: &Observation) -> Check {
    answered_2xx(
        obs,
        "every set-up write answered 2xx",
        Phase::is_setup_write,
    )
}

/// Like the set-up writes, every read must answer 2xx, under chaos too.
fn reads_answered_2xx(obs: &Observation) -> Check {
    answered_2xx(obs, "every read answered 2xx", Phase::is_read)
}

/// The check `name`: every exchange of the phases `of` answered 2xx (or 5xx or nothing,
/// which other checks judge).
fn answered_2xx(obs: &Observation, name: &'static str, of: fn(Phase) -> bool) -> Check {
    let d = obs
        .exchanges
        .iter()
        .filter(|e| of(e.phase))
        .filter(|e| matches!(e.answer.code(), Some(c) if !(200..300).contains(&c) && c < 500))
        .map(|e| format!("{}: {} answered {}", e.phase, e.request, e.answer))
        .collect();
    check(name, d)
}

/// A create issued once yields one id, never one another create also got; a keyed repeat
/// yields the same id (a different one is a second entity).
fn one_entity_per_create(obs: &Observation) -> Check {
    let mut d = Vec::new();
    for phase in Phase::ALL {
        let Some(field) = phase.created_field() else {
            continue;
        };
        let mut seen: HashMap<String, usize> = HashMap::new();
        for e in obs.exchanges.iter().filter(|e| e.phase == phase) {
            let Some(id) = e.answer.created_id(field) else {
                d.push(format!(
                    "{phase}: {} yielded no id: {}",
                    e.request, e.answer
                ));
                continue;
            };
            if let Some(again) = e.repeat.as_ref().and_then(|r| r.created_id(field)) {
                if again != id {
                    d.push(format!(
                        "{phase}: {} created {id}, its keyed repeat created another entity {again}",
                        e.request
                    ));
                }
            }
            *seen.entry(id).or_default() += 1;
        }
        let mut shared: Vec<_> = seen.into_iter().filter(|(_, n)| *n > 1).collect();
        shared.sort();
        for (id, n) in shared {
            d.push(format!(
                "{phase}: {n} separate creates all answered {field} {id}"
            ));
        }
    }
    check("one distinct entity per create", d)
}

/// A keyed repeat gets the first answer: same status, same body. Creates are judged by
/// their ids above; a repeat that failed (5xx, no answer) is judged by those checks.
fn repeats_answered_alike(obs: &Observation) -> Check {
    let failed = |a: &Answer| a.code().is_none() || a.is_5xx();
    let d = obs
        .all_exchanges()
        .filter(|e| e.phase.created_field().is_none())
        .filter_map(|e| Some((e, e.repeat.as_ref()?)))
        .filter(|(e, r)| !failed(&e.answer) && !failed(r) && !e.answer.same_as(r))
        .map(|(e, r)| {
            format!(
                "{}: {} answered {}, its keyed repeat {r}",
                e.phase, e.request, e.answer
            )
        })
        .collect();
    check("keyed repeats answered as the first", d)
}

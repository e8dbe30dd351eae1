//! What a round prints at its end: the failed checks with their discrepancies (the first
//! few of each), the answers per phase, the kills (with chaos), and the table of checks.

use crate::api::Exchange;
use crate::chaos::Kill;
use crate::phase::{tally_by_phase, Phase};
use crate::verify::Check;

/// Discrepancies printed per failed check; the count in the table is always complete.
const SHOWN: usize = 20;

pub fn print_failures(checks: &[Check]) {
    for c in checks.iter().filter(|c| !c.passed()) {
        println!("FAILED {} ({}):", c.name, c.discrepancies.len());
        for d in c.discrepancies.iter().take(SHOWN) {
            println!("  - {d}");
        }
        if c.discrepancies.len() > SHOWN {
            println!("  ... and {} more", c.discrepancies.len() - SHOWN);
        }
    }
}

/// Requests and answers per phase; `skipped`: writes that could not be sent because their
/// create yielded no id; `kills`: `None` without chaos.
pub fn print_phases(exchanges: &[Exchange], skipped: &[(Phase, usize)], kills: Option<&[Kill]>) {
    println!(
        "{:<17} {:>8} {:>7} {:>5} {:>5} {:>9} {:>7} {:>7} {:>5}",
        "phase", "requests", "2xx", "4xx", "5xx", "no answer", "repeats", "skipped", "kills"
    );
    for (phase, t) in tally_by_phase(exchanges) {
        let skip: usize = skipped
            .iter()
            .filter(|(p, _)| *p == phase)
            .map(|(_, n)| n)
            .sum();
        let killed = kills.map(|k| k.iter().filter(|k| k.phase == phase).count());
        if t.requests == 0 && skip == 0 && killed.unwrap_or(0) == 0 {
            continue;
        }
        let mut row = format!(
            "{:<17} {:>8} {:>7} {:>5} {:>5} {:>9} {:>7} {:>7} {:>5}",
            phase.name(),
            t.requests,
            t.ok,
            t.refused,
            t.server_error,
            t.no_answer,
            t.repeats,
            skip,
            killed.map_or("-".to_string(), |n| n.to_string())
        );
        if t.other > 0 {
            row.push_str(&format!("  ({} other statuses)", t.other));
        }
        println!("{row}");
    }
}

/// Every kill of the round: when, in which phase, and whom, with a cluster node's role at
/// kill time (`redis-stock-2 (master)`).
pub fn print_kills(kills: &[Kill]) {
    println!("kills ({}):", kills.len());
    for k in kills {
        println!(
            "  {:7.1}s  {:<17} {}",
            k.at.as_secs_f64(),
            k.phase.name(),
            k.victim
        );
    }
}

pub fn print_checks(checks: &[Check]) {
    println!("{:<50} {:<6} discrepancies", "check", "result");
    for c in checks {
        let result = if c.passed() { "pass" } else { "FAIL" };
        println!("{:<50} {result:<6} {}", c.name, c.discrepancies.len());
    }
}

//! The phases of a round, in the order they run, and the tally of the answers of one phase.
//!
//! Pure: no I/O. Every request the test sends belongs to exactly one phase, and every kill
//! of the chaos driver is stamped with the phase it happened in.

use crate::api::{Answer, Exchange};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    CreateItems,
    AddStock,
    CreateUsers,
    AddFunds,
    CreateOrders,
    AddItems,
    Checkout,
    /// The final reads, while the chaos (if any) is still running.
    Verify,
    /// The reads after the chaos stopped and `--settle-secs` passed, and any re-reads.
    Settled,
}

impl Phase {
    pub const ALL: [Phase; 9] = [
        Phase::CreateItems,
        Phase::AddStock,
        Phase::CreateUsers,
        Phase::AddFunds,
        Phase::CreateOrders,
        Phase::AddItems,
        Phase::Checkout,
        Phase::Verify,
        Phase::Settled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::CreateItems => "create items",
            Phase::AddStock => "add stock",
            Phase::CreateUsers => "create users",
            Phase::AddFunds => "add funds",
            Phase::CreateOrders => "create orders",
            Phase::AddItems => "addItem",
            Phase::Checkout => "checkout",
            Phase::Verify => "verify",
            Phase::Settled => "verify (settled)",
        }
    }

    /// The phase named `name` as printed, with `-` for a space (`add-funds`, `checkout`).
    pub fn from_name(name: &str) -> Option<Phase> {
        Phase::ALL
            .into_iter()
            .find(|p| p.name().replace(' ', "-").eq_ignore_ascii_case(name))
    }

    /// The writes that build the fixture (everything before the checkouts).
    pub fn is_setup_write(self) -> bool {
        self < Phase::Checkout
    }

    pub fn is_read(self) -> bool {
        self > Phase::Checkout
    }

    /// The JSON field holding the new id, for the phases that create entities.
    pub fn created_field(self) -> Option<&'static str> {
        match self {
            Phase::CreateItems => Some("item_id"),
            Phase::CreateUsers => Some("user_id"),
            Phase::CreateOrders => Some("order_id"),
            _ => None,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Answers of one phase by class. A keyed repeat is a request of its own and counted here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub requests: usize,
    pub ok: usize,
    pub refused: usize,
    pub server_error: usize,
    /// 1xx/3xx: neither success nor an error the contract knows.
    pub other: usize,
    /// Connection error or client timeout.
    pub no_answer: usize,
    /// Keyed repeats among `requests`.
    pub repeats: usize,
}

impl Tally {
    pub fn add(&mut self, answer: &Answer) {
        self.requests += 1;
        match answer.code() {
            None => self.no_answer += 1,
            Some(200..=299) => self.ok += 1,
            Some(400..=499) => self.refused += 1,
            Some(500..=599) => self.server_error += 1,
            Some(_) => self.other += 1,
        }
    }

    pub fn add_exchange(&mut self, exchange: &Exchange) {
        self.add(&exchange.answer);
        if let Some(repeat) = &exchange.repeat {
            self.add(repeat);
            self.repeats += 1;
        }
    }

    /// `2xx, 4xx, 5xx, no answer` in words, for progress lines.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} 2xx, {} 4xx, {} 5xx, {} no answer",
            self.ok, self.refused, self.server_error, self.no_answer
        );
        if self.other > 0 {
            s.push_str(&format!(", {} other", self.other));
        }
        if self.repeats > 0 {
            s.push_str(&format!(" (incl. {} keyed repeats)", self.repeats));
        }
        s
    }
}

/// The tally of every phase that sent something, in phase order.
pub fn tally_by_phase(exchanges: &[Exchange]) -> Vec<(Phase, Tally)> {
    Phase::ALL
        .into_iter()
        .map(|phase| {
            let mut t = Tally::default();
            for e in exchanges.iter().filter(|e| e.phase == phase) {
                t.add_exchange(e);
            }
            (phase, t)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_run_in_declaration_order() {
        assert!(Phase::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!(Phase::AddItems.is_setup_write() && !Phase::Checkout.is_setup_write());
        assert!(Phase::Verify.is_read() && !Phase::Checkout.is_read());
    }

    #[test]
    fn a_repeat_is_counted_as_a_request_of_its_own() {
        let mut t = Tally::default();
        t.add_exchange(&Exchange {
            phase: Phase::AddStock,
            request: "POST /stock/add/i/1".into(),
            answer: Answer::status(200),
            repeat: Some(Answer::status(502)),
        });
        t.add(&Answer::NoAnswer("timed out".into()));
        assert_eq!(
            (t.requests, t.ok, t.server_error, t.no_answer, t.repeats),
            (3, 1, 1, 1, 1)
        );
    }
}

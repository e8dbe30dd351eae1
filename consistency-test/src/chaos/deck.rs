//! Whom the chaos hits, and in which order. Pure: no I/O.
//!
//! A victim is an `ops` fault target: a component by name (a service replica such as
//! `stock-1`) or a role in a service's Redis Cluster (`redis:stock:master`), which `ops`
//! resolves to one node only when the kill comes. The deck deals every victim once per
//! pass, in a fresh random order each pass, so that every service's masters and replicas
//! are hit, not only whatever a uniform draw happens to pick.

use ops::cluster::rules::Role;
use ops::fault::Target;
use ops::stack::{cluster_of, SERVICES};
use rand::seq::SliceRandom;
use rand::Rng;

/// The victims among the components found: every one that is no cluster node and not the
/// gateway (its death would only turn answers into connection errors), and for each
/// service with cluster nodes its master and, when `has_replicas` says the cluster has
/// any, its replica.
pub fn victims(names: &[String], has_replicas: impl Fn(&str) -> bool) -> Vec<Target> {
    let mut out: Vec<Target> = names
        .iter()
        .filter(|n| cluster_of(n).is_none() && !n.contains("gateway") && !n.contains("nginx"))
        .map(|n| Target::Component(n.clone()))
        .collect();
    for service in SERVICES {
        if !names.iter().any(|n| cluster_of(n) == Some(service)) {
            continue;
        }
        out.push(Target::Role {
            service,
            role: Role::Master,
        });
        if has_replicas(service) {
            out.push(Target::Role {
                service,
                role: Role::Replica,
            });
        }
    }
    out
}

/// Deals victims pass after pass, each pass every victim once in a fresh random order, and
/// never the same victim twice in a row (also across passes).
pub struct Deck {
    victims: Vec<Target>,
    /// What is left of this pass, dealt from the end.
    pass: Vec<Target>,
    last: Option<Target>,
}

impl Deck {
    /// `victims` must not be empty.
    pub fn new(victims: Vec<Target>) -> Deck {
        assert!(!victims.is_empty(), "a deck needs a victim");
        Deck {
            victims,
            pass: Vec::new(),
            last: None,
        }
    }

    pub fn victims(&self) -> &[Target] {
        &self.victims
    }

    pub fn deal(&mut self, rng: &mut impl Rng) -> Target {
        if self.pass.is_empty() {
            self.pass = self.victims.clone();
            self.pass.shuffle(rng);
            if self.pass.len() > 1 && self.pass.last() == self.last.as_ref() {
                self.pass.swap(0, self.victims.len() - 1);
            }
        }
        let next = self.pass.pop().expect("a pass is never empty here");
        self.last = Some(next.clone());
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::HashSet;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_cluster_gives_a_master_and_a_replica_victim_instead_of_its_nodes() {
        let found = names(&[
            "gateway",
            "redis-stock-1",
            "redis-stock-2",
            "redis-payment-1",
            "redis-order",
            "stock-1",
            "order-2",
        ]);
        let v = victims(&found, |service| service == "stock");
        let node = |service, role| Target::Role { service, role };
        assert_eq!(
            v,
            vec![
                Target::Component("redis-order".into()),
                Target::Component("stock-1".into()),
                Target::Component("order-2".into()),
                node("stock", Role::Master),
                node("stock", Role::Replica),
                node("payment", Role::Master),
            ]
        );
    }

    #[test]
    fn every_pass_of_the_deck_deals_every_victim_once_never_twice_in_a_row() {
        let all = victims(
            &names(&[
                "redis-order-1",
                "redis-stock-1",
                "redis-payment-1",
                "stock-1",
            ]),
            |_| true,
        );
        assert_eq!(all.len(), 7);
        let mut rng = StdRng::seed_from_u64(7);
        let mut deck = Deck::new(all.clone());
        let mut last = None;
        for _ in 0..50 {
            let pass: Vec<Target> = (0..all.len()).map(|_| deck.deal(&mut rng)).collect();
            let distinct: HashSet<String> = pass.iter().map(|v| v.to_string()).collect();
            assert_eq!(distinct.len(), all.len(), "{pass:?}");
            assert_ne!(last.as_ref(), pass.first());
            assert!(pass.windows(2).all(|w| w[0] != w[1]));
            last = pass.last().cloned();
        }
    }

    #[test]
    fn a_deck_of_one_deals_it_every_time() {
        let mut deck = Deck::new(vec![Target::Component("stock".into())]);
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..3 {
            assert_eq!(deck.deal(&mut rng), Target::Component("stock".into()));
        }
    }
}

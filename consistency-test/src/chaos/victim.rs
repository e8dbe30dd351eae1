//! What the chaos kills, and in which order. Pure: no I/O.
//!
//! A victim is either a component known by its name (a service replica such as `stock-1`,
//! or a single, unclustered Redis such as `redis-stock`) or a role in a service's Redis
//! Cluster (a master, a replica of stock's cluster), which the driver resolves to one node
//! only when the kill comes: a failover turns a replica into a master, so a node's role at
//! the start of a round says nothing about its role later. The deck deals every victim once
//! per pass, in a fresh random order each pass, so that every service's masters and
//! replicas are hit, not only whatever a uniform draw happens to pick.

use rand::seq::SliceRandom;
use rand::Rng;
use std::fmt;

/// The services that own a Redis Cluster each.
pub const SERVICES: [&str; 3] = ["order", "stock", "payment"];

/// A cluster node's role, as `ROLE` reports it (`slave` is a replica).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Master,
    Replica,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Replica => "replica",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Victim {
    /// A component killed by its name.
    Named(String),
    /// Whichever node of `service`'s cluster is in `role` at kill time.
    Node { service: &'static str, role: Role },
}

impl fmt::Display for Victim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Victim::Named(name) => f.write_str(name),
            Victim::Node { service, role } => write!(f, "a redis-{service} {role}"),
        }
    }
}

/// What one kill hit: the component's name and, for a cluster node, its role when killed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Killed {
    pub name: String,
    pub role: Option<Role>,
}

impl fmt::Display for Killed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.role {
            Some(role) => write!(f, "{} ({role})", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The cluster a node name belongs to: `redis-stock-2` is node 2 of stock's cluster;
/// `redis-stock` (a single Redis) and `stock-2` (a service replica) belong to none.
pub fn cluster_of(name: &str) -> Option<&'static str> {
    let (service, n) = name.strip_prefix("redis-")?.rsplit_once('-')?;
    // A node number is 1, 2, ...: no sign, no leading zero.
    if n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) || n.parse::<u32>().is_err() {
        return None;
    }
    SERVICES.into_iter().find(|s| *s == service)
}

/// The victims among the components found: every one that is no cluster node by its name,
/// and for each service with cluster nodes its master and, when `has_replicas` says the
/// cluster has any, its replica.
pub fn victims(names: &[String], has_replicas: impl Fn(&str) -> bool) -> Vec<Victim> {
    let mut out: Vec<Victim> = names
        .iter()
        .filter(|n| cluster_of(n).is_none())
        .map(|n| Victim::Named(n.clone()))
        .collect();
    for service in SERVICES {
        if !names.iter().any(|n| cluster_of(n) == Some(service)) {
            continue;
        }
        out.push(Victim::Node {
            service,
            role: Role::Master,
        });
        if has_replicas(service) {
            out.push(Victim::Node {
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
    victims: Vec<Victim>,
    /// What is left of this pass, dealt from the end.
    pass: Vec<Victim>,
    last: Option<Victim>,
}

impl Deck {
    /// `victims` must not be empty.
    pub fn new(victims: Vec<Victim>) -> Deck {
        assert!(!victims.is_empty(), "a deck needs a victim");
        Deck {
            victims,
            pass: Vec::new(),
            last: None,
        }
    }

    pub fn victims(&self) -> &[Victim] {
        &self.victims
    }

    pub fn deal(&mut self, rng: &mut impl Rng) -> Victim {
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
    fn cluster_nodes_are_known_by_their_numbered_names() {
        assert_eq!(cluster_of("redis-stock-2"), Some("stock"));
        assert_eq!(cluster_of("redis-order-10"), Some("order"));
        assert_eq!(cluster_of("redis-payment-1"), Some("payment"));
        for other in [
            "redis-stock",
            "stock-2",
            "redis-stock-0",
            "redis-stock-x",
            "redis-stock-02",
            "redis-cart-1",
            "redis-stock-2-1",
            "redis--1",
        ] {
            assert_eq!(cluster_of(other), None, "{other}");
        }
    }

    #[test]
    fn each_cluster_gives_a_master_and_a_replica_victim_instead_of_its_nodes() {
        let found = names(&[
            "redis-stock-1",
            "redis-stock-2",
            "redis-payment-1",
            "redis-order",
            "stock-1",
            "order-2",
        ]);
        let v = victims(&found, |service| service == "stock");
        let node = |service, role| Victim::Node { service, role };
        assert_eq!(
            v,
            vec![
                Victim::Named("redis-order".into()),
                Victim::Named("stock-1".into()),
                Victim::Named("order-2".into()),
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
            let pass: Vec<Victim> = (0..all.len()).map(|_| deck.deal(&mut rng)).collect();
            let distinct: HashSet<String> = pass.iter().map(|v| v.to_string()).collect();
            assert_eq!(distinct.len(), all.len(), "{pass:?}");
            assert_ne!(last.as_ref(), pass.first());
            assert!(pass.windows(2).all(|w| w[0] != w[1]));
            last = pass.last().cloned();
        }
    }

    #[test]
    fn a_deck_of_one_deals_it_every_time() {
        let mut deck = Deck::new(vec![Victim::Named("stock".into())]);
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..3 {
            assert_eq!(deck.deal(&mut rng), Victim::Named("stock".into()));
        }
    }

    #[test]
    fn a_kill_shows_the_role_its_victim_had() {
        let k = Killed {
            name: "redis-stock-2".into(),
            role: Some(Role::Master),
        };
        assert_eq!(k.to_string(), "redis-stock-2 (master)");
        let p = Killed {
            name: "order-1".into(),
            role: None,
        };
        assert_eq!(p.to_string(), "order-1");
        let v = Victim::Node {
            service: "payment",
            role: Role::Replica,
        };
        assert_eq!(v.to_string(), "a redis-payment replica");
    }
}

//! The chaos report's schedule as a value: which victims, in which order, each with the
//! kind of victim that sets its target. A victim is a fault target (`ops::fault::Target`):
//! a node by role (`redis:stock:master`) is resolved by the cluster rules at the moment of
//! its kill, not here.

use super::judge::Role;
use crate::cluster::rules;
use crate::fault::Target;
use crate::stack::{cluster_of, SERVICES};
use std::fmt;

/// How the stack keeps each service's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Cluster when a master of order's cluster answers, single otherwise.
    Auto,
    /// A Redis Cluster per service.
    Cluster,
    /// One Redis per service (`redis-order`, ...).
    Single,
}

/// One victim as planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Victim {
    pub target: Target,
    pub role: Role,
}

impl Victim {
    /// A victim of `--only`: a component name, or `redis:SVC:master` / `redis:SVC:replica`.
    pub fn parse(spec: &str) -> Result<Victim, String> {
        Ok(Victim::of(spec.parse()?))
    }

    fn of(target: Target) -> Victim {
        let role = match &target {
            Target::Role {
                role: rules::Role::Master,
                ..
            } => Role::RedisMaster,
            Target::Role {
                role: rules::Role::Replica,
                ..
            } => Role::RedisReplica,
            // A cluster node by name, whatever its role at the time.
            Target::Component(name) if cluster_of(name).is_some() => Role::RedisNode,
            Target::Component(name) if name.starts_with("redis") => Role::RedisSingle,
            Target::Component(_) => Role::ServiceReplica,
        };
        Victim { target, role }
    }

    fn named(name: String) -> Victim {
        Victim::of(Target::Component(name))
    }
}

impl fmt::Display for Victim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.target.fmt(f)
    }
}

/// The whole schedule: every replica of every service (`replicas` of each), then per
/// service its Redis master and one of its Redis replicas (cluster) or its one Redis.
pub fn default_plan(cluster: bool, replicas: impl Fn(&str) -> usize) -> Vec<Victim> {
    let mut plan: Vec<Victim> = SERVICES
        .iter()
        .flat_map(|&svc| (1..=replicas(svc)).map(move |n| Victim::named(format!("{svc}-{n}"))))
        .collect();
    for service in SERVICES {
        if cluster {
            plan.extend(
                [rules::Role::Master, rules::Role::Replica]
                    .map(|role| Victim::of(Target::Role { service, role })),
            );
        } else {
            plan.push(Victim::named(format!("redis-{service}")));
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_takes_names_and_roles() {
        let role = |s: &str| Victim::parse(s).map(|v| v.role);
        assert_eq!(role("stock-1"), Ok(Role::ServiceReplica));
        assert_eq!(role("redis-stock-3"), Ok(Role::RedisNode));
        assert_eq!(role("redis-stock"), Ok(Role::RedisSingle));
        assert_eq!(role("redis:payment:replica"), Ok(Role::RedisReplica));
        assert_eq!(role("redis:order:master"), Ok(Role::RedisMaster));
        assert!(Victim::parse("redis:cart:master").is_err());
        assert!(Victim::parse("redis:stock:leader").is_err());
        let text = Victim::parse("redis:order:master").map(|v| v.to_string());
        assert_eq!(text.as_deref(), Ok("redis:order:master"));
    }

    #[test]
    fn the_default_plan_kills_replicas_first_then_each_services_redis() {
        let plan: Vec<String> = default_plan(true, |svc| if svc == "stock" { 1 } else { 2 })
            .iter()
            .map(Victim::to_string)
            .collect();
        let expected = [
            "order-1",
            "order-2",
            "stock-1",
            "payment-1",
            "payment-2",
            "redis:order:master",
            "redis:order:replica",
            "redis:stock:master",
            "redis:stock:replica",
            "redis:payment:master",
            "redis:payment:replica",
        ];
        assert_eq!(plan, expected);
        let single: Vec<String> = default_plan(false, |_| 0)
            .iter()
            .map(Victim::to_string)
            .collect();
        assert_eq!(single, ["redis-order", "redis-stock", "redis-payment"]);
    }
}

//! The chaos report's schedule as a value: which victims, in which order, each with the
//! role that sets its target. A Redis node by role is only a description here
//! (`redis:stock:master`); the driver resolves it to a node at the moment of its kill.

use super::judge::{Role, SERVICES};
use std::fmt;

/// How the stack keeps each service's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Cluster when `redis:order:master` resolves, single otherwise.
    Auto,
    /// A Redis Cluster per service.
    Cluster,
    /// One Redis per service (`redis-order`, ...).
    Single,
}

/// One victim as planned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Victim {
    /// A component by name.
    Named { name: String, role: Role },
    /// A node of a service's Redis Cluster in that role when its turn comes.
    Pick { service: String, master: bool },
}

impl Victim {
    /// A victim of `--only`: a component name, or `redis:SVC:master` / `redis:SVC:replica`.
    pub fn parse(spec: &str) -> Result<Victim, String> {
        if let Some(rest) = spec.strip_prefix("redis:") {
            let (service, role) = rest
                .split_once(':')
                .ok_or_else(|| format!("victim {spec:?}: expected redis:SERVICE:master|replica"))?;
            if !SERVICES.contains(&service) {
                return Err(format!("victim {spec:?}: no service {service:?} (order, stock, payment)"));
            }
            let master = match role {
                "master" => true,
                "replica" => false,
                _ => return Err(format!("victim {spec:?}: role {role:?} must be master or replica")),
            };
            let service = service.to_string();
            return Ok(Victim::Pick { service, master });
        }
        if spec.is_empty() || spec.contains(char::is_whitespace) {
            return Err(format!("victim {spec:?}: not a component name"));
        }
        let role = if is_cluster_node(spec) {
            Role::RedisNode // whatever its role at the time
        } else if spec.starts_with("redis") {
            Role::RedisSingle
        } else {
            Role::ServiceReplica
        };
        Ok(Victim::Named { name: spec.to_string(), role })
    }

    /// What `ops fault` takes for it.
    pub fn target(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Victim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Victim::Named { name, .. } => f.write_str(name),
            Victim::Pick { service, master } => {
                write!(f, "redis:{service}:{}", if *master { "master" } else { "replica" })
            }
        }
    }
}

/// `redis-<service>-<n>`: a node of a service's Redis Cluster.
fn is_cluster_node(name: &str) -> bool {
    SERVICES.iter().any(|svc| {
        name.strip_prefix("redis-")
            .and_then(|rest| rest.strip_prefix(svc))
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The whole schedule: every replica of every service (`replicas` of each), then per
/// service its Redis master and one of its Redis replicas (cluster) or its one Redis.
pub fn default_plan(cluster: bool, replicas: impl Fn(&str) -> usize) -> Vec<Victim> {
    let mut plan: Vec<Victim> = SERVICES
        .iter()
        .flat_map(|&svc| {
            (1..=replicas(svc)).map(move |n| Victim::Named {
                name: format!("{svc}-{n}"),
                role: Role::ServiceReplica,
            })
        })
        .collect();
    for svc in SERVICES {
        if cluster {
            plan.extend([true, false].map(|master| Victim::Pick { service: svc.to_string(), master }));
        } else {
            plan.push(Victim::Named { name: format!("redis-{svc}"), role: Role::RedisSingle });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_takes_names_and_roles() {
        let role = |s: &str| match Victim::parse(s) {
            Ok(Victim::Named { role, .. }) => Some(role),
            _ => None,
        };
        assert_eq!(role("stock-1"), Some(Role::ServiceReplica));
        assert_eq!(role("redis-stock-3"), Some(Role::RedisNode));
        assert_eq!(role("redis-stock"), Some(Role::RedisSingle));
        assert_eq!(
            Victim::parse("redis:payment:replica"),
            Ok(Victim::Pick { service: "payment".into(), master: false })
        );
        assert!(Victim::parse("redis:cart:master").is_err());
        assert!(Victim::parse("redis:stock:leader").is_err());
        assert_eq!(Victim::parse("redis:order:master").map(|v| v.target()).as_deref(), Ok("redis:order:master"));
    }

    #[test]
    fn the_default_plan_kills_replicas_first_then_each_services_redis() {
        let plan: Vec<String> = default_plan(true, |svc| if svc == "stock" { 1 } else { 2 })
            .iter()
            .map(Victim::target)
            .collect();
        assert_eq!(
            plan,
            [
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
            ]
        );
        let single = default_plan(false, |_| 0);
        assert_eq!(single.iter().map(Victim::target).collect::<Vec<_>>(), ["redis-order", "redis-stock", "redis-payment"]);
    }
}

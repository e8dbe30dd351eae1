//! Faults done to a stack's components, as data: a [`Fault`] is an [`Action`] on a
//! [`Target`], printed and parsed as `kill redis:stock:master`, so that a chaos run's
//! schedule can be shown, replayed and asserted on. A role target is resolved to one node
//! by the cluster rules at the moment the fault is done: a failover turns a replica into a
//! master, so a node's role a second ago says nothing about now.
//!
//! The local back end ([`local`]) signals only pids from the stack's pid files and starts
//! components through `env/local/stack.sh start`; the docker back end ([`docker`]) acts on
//! the containers of one compose project. Nothing here kills by name pattern.

pub mod docker;
pub mod local;

use crate::cluster::{self, rules::Role};
use crate::error::{Error, Result};
use crate::stack::{self, Stack, SERVICES};
use std::fmt;
use std::str::FromStr;

/// What is done to a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Action {
    /// SIGKILL (docker kill).
    Kill,
    /// SIGSTOP of the process and its children (docker pause).
    Pause,
    /// SIGCONT (docker unpause).
    Resume,
    /// Start it again and wait until it is healthy (a Redis node: its cluster whole).
    Start,
    /// Start it again without waiting: a Redis node may still be loading or
    /// resynchronising when the next fault comes.
    Launch,
    /// Cut a Redis node off the network: its cluster and its clients.
    Isolate,
    /// Cut a Redis node off the other nodes of its cluster; its clients still reach it.
    Split,
    /// Undo `isolate` and wait until its cluster is whole.
    Heal,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Kill => "kill",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Start => "start",
            Action::Launch => "launch",
            Action::Isolate => "isolate",
            Action::Split => "split",
            Action::Heal => "heal",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whom a fault hits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A component by name: `stock-1`, `order-2`, `redis-stock-3`, `gateway`.
    Component(String),
    /// Whichever node of `service`'s cluster is in `role` when the fault is done
    /// (`redis:stock:master`).
    Role { service: &'static str, role: Role },
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Component(name) => f.write_str(name),
            Target::Role { service, role } => write!(f, "redis:{service}:{role}"),
        }
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Target, String> {
        if let Some(rest) = s.strip_prefix("redis:") {
            let (service, role) = rest
                .split_once(':')
                .ok_or_else(|| format!("{s:?} must be redis:SERVICE:master|replica"))?;
            let service = SERVICES
                .into_iter()
                .find(|x| *x == service)
                .ok_or_else(|| format!("service {service:?} must be one of {SERVICES:?}"))?;
            return Ok(Target::Role {
                service,
                role: role.parse()?,
            });
        }
        let plain = !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !plain {
            return Err(format!(
                "component name {s:?} must be letters, digits and '-'"
            ));
        }
        Ok(Target::Component(s.to_string()))
    }
}

/// One fault: `kill redis:stock:master`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, clap::Args)]
pub struct Fault {
    pub action: Action,
    /// A component (`stock-1`, `redis-stock-3`, `gateway`) or `redis:SERVICE:master|replica`.
    pub target: Target,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.action, self.target)
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Fault, String> {
        let (action, target) = s
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("{s:?} must be ACTION TARGET"))?;
        let action = <Action as clap::ValueEnum>::from_str(action, false)?;
        Ok(Fault {
            action,
            target: target.trim().parse()?,
        })
    }
}

/// What a fault hit: the component and, for a role target, the role it had then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub name: String,
    pub role: Option<Role>,
}

impl fmt::Display for Hit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.role {
            Some(role) => write!(f, "{} ({role})", self.name),
            None => f.write_str(&self.name),
        }
    }
}

impl Fault {
    /// `ops fault ACTION TARGET`: does it and prints the component it acted on.
    pub async fn run(self, stack: &Stack) -> Result<()> {
        let hit = apply(stack, &self).await?;
        println!("{}", hit.name);
        Ok(())
    }
}

/// Resolves the target now and does the fault to it.
pub async fn apply(stack: &Stack, fault: &Fault) -> Result<Hit> {
    let hit = resolve(stack, &fault.target).await?;
    act(stack, fault.action, &hit.name).await?;
    Ok(hit)
}

/// The component `target` names now.
pub async fn resolve(stack: &Stack, target: &Target) -> Result<Hit> {
    match target {
        Target::Component(name) => Ok(Hit {
            name: name.clone(),
            role: None,
        }),
        Target::Role { service, role } => {
            let cluster = stack.cluster(service).await?;
            let node = cluster::pick(&cluster, *role).await?;
            Ok(Hit {
                name: node.name,
                role: Some(*role),
            })
        }
    }
}

/// The cluster and number of Redis node `name` (`redis-stock-2`), or why it is none.
pub(crate) fn node_of(name: &str) -> Result<(&'static str, usize)> {
    stack::node_index(name).ok_or_else(|| {
        Error::Invalid(format!(
            "{name} is no Redis node: only a node is cut off its cluster"
        ))
    })
}

/// Why node `name` cannot be cut off its cluster on this stack, if it cannot (asked before
/// a probe's pass counts on it).
pub async fn cannot_cut(stack: &Stack, name: &str) -> Option<String> {
    match stack {
        Stack::Local(l) => local::cannot_cut(l, name).await,
        Stack::Docker(_) => None,
        Stack::Hosts(_) => Some("the hosts back end does no faults".into()),
    }
}

/// Does `action` to the component `name`.
pub async fn act(stack: &Stack, action: Action, name: &str) -> Result<()> {
    if matches!(action, Action::Isolate | Action::Split | Action::Heal) {
        // Only a Redis node is cut off its cluster, on every back end.
        node_of(name)?;
    }
    match stack {
        Stack::Local(l) => local::act(l, action, name).await,
        Stack::Docker(d) => {
            docker::act(d, action, name).await?;
            if matches!(action, Action::Start | Action::Heal) {
                wait_cluster_of(stack, name).await?;
            }
            Ok(())
        }
        Stack::Hosts(_) => Err(Error::Unsupported {
            what: "a fault",
            backend: "hosts",
        }),
    }
}

/// The components a fault may hit now: the local stack's with a pid file, or the
/// project's containers that run (also paused ones); no one-shot container.
pub async fn components(stack: &Stack) -> Result<Vec<String>> {
    match stack {
        Stack::Local(l) => l.recorded(),
        Stack::Docker(d) => Ok(d
            .containers()
            .await?
            .into_iter()
            .filter(|c| c.running)
            .map(|c| c.service)
            .collect()),
        Stack::Hosts(_) => Ok(Vec::new()),
    }
}

/// After `start` or `heal` of a Redis node: waits until its cluster is whole.
async fn wait_cluster_of(stack: &Stack, name: &str) -> Result<()> {
    let Some(service) = stack::cluster_of(name) else {
        return Ok(());
    };
    let cluster = stack.cluster(service).await?;
    cluster::wait_whole(&[cluster], WHOLE_BOUND, |_, _| {}).await
}

/// How long a cluster may take to be whole again after one of its nodes came back.
const WHOLE_BOUND: std::time::Duration = std::time::Duration::from_secs(90);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_print_and_parse_back() {
        for text in [
            "kill redis:stock:master",
            "pause redis:order:replica",
            "start stock-1",
            "isolate redis-payment-3",
            "heal gateway",
            "resume order-2",
        ] {
            let fault: Fault = text.parse().unwrap();
            assert_eq!(fault.to_string(), text);
        }
        let f: Fault = "kill redis:stock:slave".parse().unwrap();
        assert_eq!(
            f.target,
            Target::Role {
                service: "stock",
                role: Role::Replica
            }
        );
    }

    #[test]
    fn bad_faults_say_what_is_wrong() {
        assert!("kill".parse::<Fault>().is_err());
        assert!("smash stock-1".parse::<Fault>().is_err());
        let e = "kill redis:cart:master".parse::<Fault>().unwrap_err();
        assert!(e.contains("cart"), "{e}");
        assert!("kill redis:stock:boss".parse::<Fault>().is_err());
        assert!("kill redis:stock".parse::<Fault>().is_err());
        assert!("kill ../x".parse::<Fault>().is_err());
    }

    #[test]
    fn a_hit_shows_the_role_its_component_had() {
        let hit = Hit {
            name: "redis-stock-2".into(),
            role: Some(Role::Master),
        };
        assert_eq!(hit.to_string(), "redis-stock-2 (master)");
        let plain = Hit {
            name: "order-1".into(),
            role: None,
        };
        assert_eq!(plain.to_string(), "order-1");
    }
}

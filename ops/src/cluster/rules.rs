//! The rules of a Redis Cluster, read from what its nodes answer to `PING`, `CLUSTER INFO`,
//! `CLUSTER NODES` and `INFO replication`: when a cluster is whole, which master serves a
//! slot, which nodes are in a role, which replicas follow a master, and how a new cluster's
//! slots and replicas are laid out. Pure: no I/O, so that every rule is unit-tested on
//! texts recorded from real nodes.
//!
//! This is the only place these rules are written: the local stack, the compose set-up and
//! health check, the consistency test and the test harness all call it.

use std::fmt;
use std::str::FromStr;

/// Redis Cluster's number of hash slots.
pub const SLOTS: u16 = 16384;

/// The slots of the witness masters ([`Topology::witnesses`]): masters added to a cluster
/// of fewer than three data masters so that a failover has a majority to vote for it.
/// They hold no data: every hash tag the services write avoids these slots
/// (`common::store::tag`, which keeps its own copy of them, checked equal by
/// common/tests/cluster_spread.rs).
pub const WITNESS_SLOTS: [u16; 2] = [16382, 16383];

/// Every node's `appendfsync` unless `REDIS_FSYNC` says otherwise: `no`. Each write is in
/// the AOF (written before the reply, so a killed process loses nothing the page cache
/// holds) and, before it is acknowledged, on two of three nodes; `everysec` may put off
/// the write itself for 2 s, `always` adds an fsync per pipeline on every node
/// (docs/design.md, "What a power loss keeps").
pub const FSYNC: &str = "no";

/// A node's role, as `INFO replication` says it (`slave` is a replica).
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

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "master" => Ok(Role::Master),
            "replica" | "slave" => Ok(Role::Replica),
            other => Err(format!("role {other:?} must be master or replica")),
        }
    }
}

/// The value of `field` in `INFO` or `CLUSTER INFO` output (`field:value` lines).
pub fn info_field<'a>(text: &'a str, field: &str) -> Option<&'a str> {
    text.lines()
        .filter_map(|l| l.trim_end_matches('\r').split_once(':'))
        .find(|(k, _)| *k == field)
        .map(|(_, v)| v.trim())
}

/// One line of `CLUSTER NODES`:
/// `<id> <ip:port@bus[,host]> <flags> <master id or -> <ping> <pong> <epoch> <link> <slot>...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLine {
    pub id: String,
    pub addr: String,
    pub flags: Vec<String>,
    pub master: Option<String>,
    /// The cluster bus link to it is up (a node killed a moment ago is `disconnected`
    /// before it is flagged `fail?`).
    pub connected: bool,
    /// The slot ranges it serves, first and last inclusive (importing and migrating
    /// slots, `[...]`, are left out).
    pub slots: Vec<(u16, u16)>,
}

impl NodeLine {
    pub fn is_master(&self) -> bool {
        self.has_flag("master")
    }
    pub fn is_myself(&self) -> bool {
        self.has_flag("myself")
    }
    fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }
    pub fn failing(&self) -> bool {
        !self.connected
            || ["fail", "fail?", "noaddr", "handshake"]
                .iter()
                .any(|f| self.has_flag(f))
    }
    pub fn serves_slots(&self) -> bool {
        !self.slots.is_empty()
    }
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
    }
    /// The port of its address (`10.0.0.2:6379@16379,host` is 6379).
    pub fn port(&self) -> Option<u16> {
        let host_port = self.addr.split(['@', ',']).next()?;
        host_port.rsplit_once(':')?.1.parse().ok()
    }
    /// Its slot ranges as Redis writes them: `0-5460 10923`.
    pub fn slot_list(&self) -> String {
        let shown: Vec<String> = self
            .slots
            .iter()
            .map(|&(a, b)| {
                if a == b {
                    a.to_string()
                } else {
                    format!("{a}-{b}")
                }
            })
            .collect();
        shown.join(" ")
    }
}

fn parse_slots(field: &str) -> Option<(u16, u16)> {
    if field.starts_with('[') {
        return None;
    }
    match field.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => field.parse().ok().map(|n| (n, n)),
    }
}

pub fn parse_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            Some(NodeLine {
                id: f[0].to_string(),
                addr: f[1].to_string(),
                flags: f[2].split(',').map(str::to_string).collect(),
                master: (f[3] != "-").then(|| f[3].to_string()),
                connected: f[7] == "connected",
                slots: f[8..].iter().filter_map(|s| parse_slots(s)).collect(),
            })
        })
        .collect()
}

/// One node's answers, each `None` when it did not give one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// The node's name (`redis-stock-3`), for messages.
    pub name: String,
    pub ping: bool,
    pub info: Option<String>,
    pub nodes: Option<String>,
    pub replication: Option<String>,
}

impl Probe {
    /// What a node that does not answer gives.
    pub fn silent(name: &str) -> Probe {
        Probe {
            name: name.to_string(),
            ..Probe::default()
        }
    }

    /// The cluster as this node sees it.
    pub fn view(&self) -> Vec<NodeLine> {
        parse_nodes(self.nodes.as_deref().unwrap_or(""))
    }

    /// Its own line of `CLUSTER NODES`.
    pub fn myself(&self) -> Option<NodeLine> {
        self.view().into_iter().find(NodeLine::is_myself)
    }

    /// Its role now, `None` when it did not answer.
    pub fn role(&self) -> Option<Role> {
        if !self.ping {
            return None;
        }
        info_field(self.replication.as_deref()?, "role")?
            .parse()
            .ok()
    }

    fn info(&self, field: &str) -> Option<&str> {
        info_field(self.info.as_deref()?, field)
    }

    fn replication(&self, field: &str) -> Option<&str> {
        info_field(self.replication.as_deref()?, field)
    }

    /// A fresh node: it answers, knows only itself and holds no slot (a new data folder).
    pub fn is_fresh(&self) -> bool {
        self.ping
            && self.info("cluster_known_nodes") == Some("1")
            && self.info("cluster_slots_assigned") == Some("0")
    }

    /// One line for `cluster status`: `master, slots 0-5460`, `replica of redis-order-1
    /// (link up)` (its master named by `name_of_id`), or `not answering`.
    pub fn summary(&self, name_of_id: impl Fn(&str) -> Option<String>) -> String {
        let Some(role) = self.role() else {
            return "not answering".to_string();
        };
        let me = self.myself();
        match role {
            Role::Master => {
                let slots = me.map(|m| m.slot_list()).unwrap_or_default();
                let slots = if slots.is_empty() {
                    "none".into()
                } else {
                    slots
                };
                format!("master, slots {slots}")
            }
            Role::Replica => {
                let master = me
                    .and_then(|m| m.master)
                    .and_then(|id| name_of_id(&id))
                    .unwrap_or_else(|| "?".into());
                let link = self.replication("master_link_status").unwrap_or("?");
                format!("replica of {master} (link {link})")
            }
        }
    }
}

/// The shape of a cluster: how many data masters, how many replicas each, and the witness
/// masters that follow from them ([`Topology::witnesses`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    /// The masters that hold the data (every slot but the witnesses').
    pub masters: usize,
    pub replicas: usize,
}

impl Topology {
    /// The local stack's default, sized to a small machine: one data master with two
    /// replicas, so that an acknowledged write is on two of three copies and any one node
    /// may die without the shard refusing writes, and two witness masters, so that a
    /// majority of masters is left to elect the dead master's successor (docs/design.md,
    /// "Storage"). Compose and Kubernetes run three data masters ([`Topology::SPREAD`]).
    pub const DEFAULT: Topology = Topology {
        masters: 1,
        replicas: 2,
    };

    /// Compose's and Kubernetes' topology: three data masters with two replicas each, the
    /// keys spread over three shards, no witnesses needed.
    pub const SPREAD: Topology = Topology {
        masters: 3,
        replicas: 2,
    };

    /// The witness masters: with replicas (a failover is wanted) and fewer than three data
    /// masters, as many masters without data as make three voters, since Redis elects a
    /// replica only with the votes of a majority of the masters that serve slots. Each
    /// serves a share of [`WITNESS_SLOTS`], has no replica and refuses every write
    /// (`min-replicas-to-write 1`): a witness that dies costs nothing until a second fault.
    pub fn witnesses(self) -> usize {
        if self.replicas > 0 {
            3usize.saturating_sub(self.masters)
        } else {
            0
        }
    }

    /// Every node: the data masters, their replicas, then the witnesses.
    pub fn nodes(self) -> usize {
        self.masters * (1 + self.replicas) + self.witnesses()
    }

    /// The topology of `nodes` nodes with `replicas` replicas per data master.
    pub fn of(nodes: usize, replicas: usize) -> Result<Topology, String> {
        (1..=nodes)
            .map(|masters| Topology { masters, replicas })
            .find(|t| t.nodes() == nodes)
            .ok_or_else(|| {
                format!("{nodes} nodes cannot form masters with {replicas} replica(s) each")
            })
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} masters x {} replicas", self.masters, self.replicas)?;
        match self.witnesses() {
            0 => Ok(()),
            w => write!(f, " + {w} witness masters"),
        }
    }
}

/// Whether this line is a witness master's: a master serving only [`WITNESS_SLOTS`].
pub fn is_witness(line: &NodeLine) -> bool {
    let (first, last) = (WITNESS_SLOTS[0], WITNESS_SLOTS[WITNESS_SLOTS.len() - 1]);
    line.is_master()
        && line.serves_slots()
        && line.slots.iter().all(|&(a, b)| first <= a && b <= last)
}

/// Why this node is not a sound member of a whole cluster of `nodes` nodes (`None`: it
/// is): it answers, says `cluster_state:ok` with all slots served, knows every node and
/// sees none failing; a master serves slots, a replica's link to its master is up.
/// Without `nodes`, how many nodes it knows is not checked (a node's own health check).
pub fn node_problem(p: &Probe, nodes: Option<usize>) -> Option<String> {
    let name = &p.name;
    if !p.ping {
        return Some(format!("{name} does not answer"));
    }
    let state = p.info("cluster_state").unwrap_or("?");
    if state != "ok" {
        return Some(format!("{name}: cluster_state {state}"));
    }
    let slots = p.info("cluster_slots_ok").unwrap_or("?");
    if slots != SLOTS.to_string() {
        return Some(format!("{name}: {slots} of {SLOTS} slots served"));
    }
    if let Some(n) = nodes {
        let known = p.info("cluster_known_nodes").unwrap_or("?");
        if known != n.to_string() {
            return Some(format!("{name} knows {known} of {n} nodes"));
        }
    }
    let view = p.view();
    if let Some(bad) = view.iter().find(|n| !n.is_myself() && n.failing()) {
        let link = if bad.connected { "" } else { " (disconnected)" };
        let flags = bad.flags.join(",");
        return Some(format!("{name} sees {} as {flags}{link}", bad.addr));
    }
    match p.role() {
        Some(Role::Master) => {
            let serves = view.iter().any(|n| n.is_myself() && n.serves_slots());
            (!serves).then(|| format!("{name} is a master without slots"))
        }
        Some(Role::Replica) => {
            let link = p.replication("master_link_status").unwrap_or("?");
            (link != "up").then(|| format!("{name}: link to its master {link}"))
        }
        None => Some(format!("{name}: no role in INFO replication")),
    }
}

/// Why the cluster these probes (one per node) describe is not whole; `None` when it is.
/// Whole: every node is sound ([`node_problem`]) and knows all of them, `topology.masters`
/// data masters hold the slots, each with `topology.replicas` replicas, and the witnesses
/// hold theirs.
pub fn not_whole(probes: &[Probe], topology: Topology) -> Option<String> {
    if probes.len() != topology.nodes() {
        return Some(format!(
            "{} nodes, {topology} needs {}",
            probes.len(),
            topology.nodes()
        ));
    }
    if let Some(why) = probes
        .iter()
        .find_map(|p| node_problem(p, Some(topology.nodes())))
    {
        return Some(why);
    }
    let selves: Vec<(&Probe, NodeLine)> = probes
        .iter()
        .filter_map(|p| Some((p, p.myself()?)))
        .collect();
    let masters: Vec<&(&Probe, NodeLine)> = selves
        .iter()
        .filter(|(p, _)| p.role() == Some(Role::Master))
        .collect();
    let (witnesses, data): (Vec<_>, Vec<_>) =
        masters.into_iter().partition(|(_, me)| is_witness(me));
    if data.len() != topology.masters {
        return Some(format!("{} of {} masters", data.len(), topology.masters));
    }
    if witnesses.len() != topology.witnesses() {
        return Some(format!(
            "{} of {} witness masters",
            witnesses.len(),
            topology.witnesses()
        ));
    }
    for (p, me) in data {
        let followers = probes.iter().filter(|p| follows(p, &me.id)).count();
        if followers < topology.replicas {
            return Some(format!(
                "{} has {followers} of {} replicas",
                p.name, topology.replicas
            ));
        }
    }
    None
}

/// Whether the node says, in its own `CLUSTER NODES` line, that it replicates `master_id`:
/// what "a master's replicas" means for the wholeness rule and for picking a replica, so
/// that a cluster judged whole always has a replica to pick.
pub fn follows(probe: &Probe, master_id: &str) -> bool {
    probe
        .myself()
        .is_some_and(|m| m.master.as_deref() == Some(master_id))
}

/// The master serving `slot` in this view, not failing.
pub fn master_of_slot(view: &[NodeLine], slot: u16) -> Option<&NodeLine> {
    view.iter()
        .find(|n| n.is_master() && !n.failing() && n.serves(slot))
}

/// The master of `slot` that most of the answering nodes name in their views
/// ([`master_of_slot`]); of equals, the first named. A single node's view can be behind:
/// one just healed from a partition or woken from a pause may flag the others failing for
/// a moment, or still name itself.
pub fn master_named_most(probes: &[Probe], slot: u16) -> Option<NodeLine> {
    let mut named: Vec<(NodeLine, usize)> = Vec::new();
    for probe in probes.iter().filter(|p| p.ping) {
        let view = probe.view();
        let Some(master) = master_of_slot(&view, slot) else {
            continue;
        };
        match named.iter_mut().find(|(m, _)| m.id == master.id) {
            Some((_, votes)) => *votes += 1,
            None => named.push((master.clone(), 1)),
        }
    }
    let most = named.iter().map(|(_, votes)| *votes).max()?;
    named
        .into_iter()
        .find(|(_, votes)| *votes == most)
        .map(|(master, _)| master)
}

/// The replicas of the master `master_id` in this view, not failing.
pub fn replicas_of<'a>(
    view: &'a [NodeLine],
    master_id: &'a str,
) -> impl Iterator<Item = &'a NodeLine> {
    view.iter()
        .filter(move |n| n.master.as_deref() == Some(master_id) && !n.failing())
}

/// The probes of the nodes in `role` now; the masters are the data masters (a witness
/// holds no data: nothing to read, and not what a fault on "a master" means).
pub fn in_role(probes: &[Probe], role: Role) -> Vec<&Probe> {
    probes
        .iter()
        .filter(|p| p.role() == Some(role) && !p.myself().is_some_and(|me| is_witness(&me)))
        .collect()
}

/// What to do with fresh nodes, judged from how many of them are fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Every node is fresh: create the cluster.
    AllFresh,
    /// None is: the cluster exists, leave it as it is.
    Created,
    /// Some are and some are not (a data folder was removed): do not touch it.
    Mixed { fresh: usize },
}

pub fn freshness(probes: &[Probe]) -> Freshness {
    let fresh = probes.iter().filter(|p| p.is_fresh()).count();
    match fresh {
        0 => Freshness::Created,
        n if n == probes.len() => Freshness::AllFresh,
        n => Freshness::Mixed { fresh: n },
    }
}

/// How a cluster is made of fresh nodes `0..topology.nodes()`: nodes `0..masters` become
/// the data masters, each serving an even share of the slots (all but [`WITNESS_SLOTS`]
/// when there are witnesses); node `masters + k` becomes a replica of master
/// `k % masters`; the last [`Topology::witnesses`] nodes share the witness slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `(node, first slot, last slot)` per master, witnesses included.
    pub slots: Vec<(usize, u16, u16)>,
    /// `(replica node, its master node)`.
    pub replicas: Vec<(usize, usize)>,
}

pub fn layout(topology: Topology) -> Layout {
    let (m, w) = (topology.masters, topology.witnesses());
    let witness_first = usize::from(WITNESS_SLOTS[0]);
    let data_slots = if w > 0 {
        witness_first
    } else {
        usize::from(SLOTS)
    };
    let data_nodes = m * (1 + topology.replicas);
    let mut slots = share(0, data_slots, 0..m);
    slots.extend(share(
        witness_first,
        usize::from(SLOTS),
        data_nodes..data_nodes + w,
    ));
    let replicas = (m..data_nodes).map(|n| (n, (n - m) % m)).collect();
    Layout { slots, replicas }
}

/// Slots `first..end` in even, consecutive shares, one per node of `nodes`.
fn share(first: usize, end: usize, nodes: std::ops::Range<usize>) -> Vec<(usize, u16, u16)> {
    let (count, total) = (nodes.len(), end - first);
    nodes
        .enumerate()
        .map(|(i, node)| {
            // Both ends fit in u16: they are below SLOTS.
            let a = (first + i * total / count) as u16;
            let b = (first + (i + 1) * total / count - 1) as u16;
            (node, a, b)
        })
        .collect()
}

#[cfg(test)]
mod tests;

//! A Redis Cluster of several masters, each with replicas, on free loopback ports:
//! the production topology, for the tests that kill a master and count what survives.

use std::time::{Duration, Instant};

use super::{redis_cli, RedisServer};
use crate::config::{Config, RedisConfig};

pub struct RedisCluster {
    /// Nodes `0..masters` started as the masters; the rest as their replicas.
    pub nodes: Vec<RedisServer>,
    replicas: usize,
}

/// One line of `CLUSTER NODES`.
struct NodeLine {
    port: u16,
    master: bool,
    failed: bool,
    slots: Vec<(u16, u16)>,
}

fn parse_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let addr = fields.get(1)?.split('@').next()?;
            let port = addr.rsplit(':').next()?.parse().ok()?;
            let flags = fields.get(2)?;
            let slots = fields
                .iter()
                .skip(8)
                .filter(|s| !s.starts_with('['))
                .filter_map(|s| match s.split_once('-') {
                    Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
                    None => s.parse().ok().map(|n| (n, n)),
                })
                .collect();
            Some(NodeLine {
                port,
                master: flags.contains("master"),
                failed: flags.contains("fail"),
                slots,
            })
        })
        .collect()
}

impl RedisCluster {
    /// Starts `masters` masters, each with `replicas` replicas, and waits until the
    /// cluster serves every slot and every replica is in sync.
    pub fn start(masters: usize, replicas: usize) -> Self {
        assert!(masters >= 1);
        let nodes: Vec<RedisServer> = (0..masters * (1 + replicas))
            .map(|_| RedisServer::start_node())
            .collect();
        let per = 16384 / masters;
        for (i, node) in nodes[..masters].iter().enumerate() {
            let first = i * per;
            let last = if i + 1 == masters {
                16383
            } else {
                first + per - 1
            };
            let out = node.cli(&[
                "cluster",
                "addslotsrange",
                &first.to_string(),
                &last.to_string(),
            ]);
            assert!(
                out.contains("OK"),
                "addslotsrange on {}: {out}",
                node.port()
            );
        }
        let first = nodes[0].port().to_string();
        for node in &nodes[1..] {
            node.cli(&["cluster", "meet", "127.0.0.1", &first]);
        }
        let cluster = RedisCluster { nodes, replicas };
        cluster.wait_until("every node knows every other", |c| {
            c.nodes
                .iter()
                .all(|n| parse_nodes(&n.cli(&["cluster", "nodes"])).len() == c.nodes.len())
        });
        for r in 0..masters * replicas {
            let master_id = cluster.id_of(r % masters);
            let replica = &cluster.nodes[masters + r];
            cluster.wait_until("a replica accepted its master", |_| {
                replica
                    .cli(&["cluster", "replicate", &master_id])
                    .contains("OK")
            });
        }
        cluster.wait_whole();
        cluster
    }

    /// Every node, comma-separated (the services' `REDIS_URL`).
    pub fn url(&self) -> String {
        let urls: Vec<String> = self.nodes.iter().map(RedisServer::url).collect();
        urls.join(",")
    }

    /// The Redis settings a service under test uses: wait up to 15 s for a failover.
    pub fn config(&self) -> RedisConfig {
        RedisConfig {
            url: self.url(),
            wait: Duration::from_secs(15),
            ..self.nodes[0].config()
        }
    }

    pub fn service_config(&self) -> Config {
        Config {
            redis: self.config(),
            ..self.nodes[0].service_config()
        }
    }

    /// What a running node says of the cluster.
    fn view(&self) -> Vec<NodeLine> {
        self.nodes
            .iter()
            .filter(|n| n.is_running())
            .map(|n| parse_nodes(&n.cli(&["cluster", "nodes"])))
            .find(|lines| !lines.is_empty())
            .unwrap_or_default()
    }

    /// The index in `nodes` of the master serving `key`'s slot now.
    pub fn master_of(&self, key: &str) -> usize {
        let slot = crate::store::slot_of(key.as_bytes());
        let line = self
            .view()
            .into_iter()
            .find(|l| l.master && !l.failed && l.slots.iter().any(|&(a, b)| a <= slot && slot <= b))
            .unwrap_or_else(|| panic!("no master serves slot {slot}"));
        self.index_of(line.port)
    }

    /// The index in `nodes` of a replica of the master at `master`.
    pub fn replica_of(&self, master: usize) -> usize {
        let id = self.id_of(master);
        let id = id.as_str();
        let text = self.nodes[master].cli(&["cluster", "nodes"]);
        let port = text
            .lines()
            .find(|l| l.split_whitespace().nth(3) == Some(id))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|a| a.split('@').next()?.rsplit(':').next()?.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "the master on port {} has no replica",
                    self.nodes[master].port()
                )
            });
        self.index_of(port)
    }

    fn index_of(&self, port: u16) -> usize {
        self.nodes
            .iter()
            .position(|n| n.port() == port)
            .unwrap_or_else(|| panic!("no node of this cluster on port {port}"))
    }

    /// The role a node says it has now (`master`, `slave`, or empty when it is down).
    pub fn role(&self, node: usize) -> String {
        self.nodes[node]
            .cli(&["role"])
            .lines()
            .next()
            .unwrap_or("")
            .to_string()
    }

    /// Waits until every running node says `cluster_state:ok`, every slot is served by
    /// a master that is not failed, and each such master has its replicas in sync.
    pub fn wait_whole(&self) {
        self.wait_until("the cluster is whole", |c| c.is_whole());
    }

    fn is_whole(&self) -> bool {
        let running = self.nodes.iter().filter(|n| n.is_running());
        if !running
            .clone()
            .all(|n| n.cli(&["cluster", "info"]).contains("cluster_state:ok"))
        {
            return false;
        }
        let view = self.view();
        if !covered(&view) {
            return false;
        }
        view.iter()
            .filter(|l| l.master && !l.slots.is_empty())
            .all(|l| {
                let info = redis_cli(l.port, &["info", "replication"]);
                let online = info
                    .lines()
                    .filter(|x| x.starts_with("slave") && x.contains("state=online"))
                    .count();
                online >= self.replicas
            })
    }

    fn wait_until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if done(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting until {what}");
    }

    pub fn id_of(&self, node: usize) -> String {
        self.nodes[node]
            .cli(&["cluster", "myid"])
            .trim()
            .to_string()
    }
}

/// Every slot served by a master that is not failed.
fn covered(view: &[NodeLine]) -> bool {
    let mut ranges: Vec<(u16, u16)> = view
        .iter()
        .filter(|l| l.master && !l.failed)
        .flat_map(|l| l.slots.iter().copied())
        .collect();
    ranges.sort_unstable();
    let mut next = 0u32;
    for (a, b) in ranges {
        if u32::from(a) > next {
            return false;
        }
        next = next.max(u32::from(b) + 1);
    }
    next == 16384
}

//! A Redis Cluster of several masters, each with replicas, on free loopback ports:
//! the production topology, for the tests that kill a master and count what survives.
//! Creating it, judging it whole and finding a key's master are the `ops` library's rules
//! (the same as the stacks'), run here on a thread of their own so that a test may call
//! them from inside its async runtime.

use std::future::Future;
use std::time::Duration;

use ops::cluster::rules::{self, NodeLine, Topology};
use ops::stack::{Cluster, Link, Node};

use super::RedisServer;
use crate::config::{Config, RedisConfig};

/// How long the cluster may take to be whole.
const WHOLE_BOUND: Duration = Duration::from_secs(30);

pub struct RedisCluster {
    /// Nodes `0..masters` started as the data masters, then their replicas, then the
    /// witness masters ([`Topology::witnesses`]).
    pub nodes: Vec<RedisServer>,
    topology: Topology,
}

impl RedisCluster {
    /// Starts `masters` data masters, each with `replicas` replicas, and the witnesses
    /// they need, and waits until the cluster is whole. Every node requires a replica's
    /// acknowledgement of a write when there are replicas: a witness refuses writes.
    pub fn start(masters: usize, replicas: usize) -> Self {
        assert!(masters >= 1);
        let topology = Topology { masters, replicas };
        let required = replicas.min(1);
        let nodes: Vec<RedisServer> = (0..topology.nodes())
            .map(|_| RedisServer::start_node(required))
            .collect();
        let cluster = RedisCluster { nodes, topology };
        let spec = cluster.spec();
        run_aside(async move { ops::cluster::create(&spec).await.map(|_| ()) })
            .unwrap_or_else(|e| panic!("creating the cluster: {e}"));
        cluster.wait_whole();
        cluster
    }

    /// The cluster as the `ops` library addresses it.
    fn spec(&self) -> Cluster {
        let nodes = self
            .nodes
            .iter()
            .map(|n| Node {
                name: format!("node-{}", n.port()),
                link: Link::Tcp {
                    host: "127.0.0.1".into(),
                    port: n.port(),
                    password: None,
                },
            })
            .collect();
        Cluster {
            service: "test".into(),
            topology: self.topology,
            nodes,
        }
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
            .map(|n| rules::parse_nodes(&n.cli(&["cluster", "nodes"])))
            .find(|lines| !lines.is_empty())
            .unwrap_or_default()
    }

    /// The index in `nodes` of the master serving `key`'s slot now.
    pub fn master_of(&self, key: &str) -> usize {
        let slot = crate::store::slot_of(key.as_bytes());
        let view = self.view();
        let line = rules::master_of_slot(&view, slot)
            .unwrap_or_else(|| panic!("no master serves slot {slot}"));
        self.index_of(line)
    }

    /// The indexes in `nodes` of the replicas of the master at `master`, as it says.
    pub fn replicas_of(&self, master: usize) -> Vec<usize> {
        let id = self.id_of(master);
        let view = rules::parse_nodes(&self.nodes[master].cli(&["cluster", "nodes"]));
        let replicas: Vec<usize> = rules::replicas_of(&view, &id)
            .map(|line| self.index_of(line))
            .collect();
        assert!(
            !replicas.is_empty(),
            "the master on port {} has no replica",
            self.nodes[master].port()
        );
        replicas
    }

    /// The indexes in `nodes` of the witness masters (the last nodes; none with three
    /// data masters or without replicas).
    pub fn witnesses(&self) -> std::ops::Range<usize> {
        let n = self.nodes.len();
        n - self.topology.witnesses()..n
    }

    fn index_of(&self, line: &NodeLine) -> usize {
        let port = line.port();
        self.nodes
            .iter()
            .position(|n| Some(n.port()) == port)
            .unwrap_or_else(|| panic!("no node of this cluster is {}", line.addr))
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

    /// Waits until the cluster is whole (`ops::cluster::rules::not_whole`): every node
    /// answers and is sound, and every master has its replicas.
    pub fn wait_whole(&self) {
        let spec = self.spec();
        run_aside(async move { ops::cluster::wait_whole(&[spec], WHOLE_BOUND, |_, _| {}).await })
            .unwrap_or_else(|e| panic!("waiting until the cluster is whole: {e}"));
    }

    pub fn id_of(&self, node: usize) -> String {
        self.nodes[node]
            .cli(&["cluster", "myid"])
            .trim()
            .to_string()
    }
}

/// Runs `fut` to its end on a runtime of its own thread.
fn run_aside<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for the cluster rules")
            .block_on(fut)
    })
    .join()
    .expect("the cluster rules' thread panicked")
}

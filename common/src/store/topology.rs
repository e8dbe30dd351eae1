//! Which master serves which slot, as `CLUSTER SLOTS` tells it, asked for again every
//! quarter of a second while the service writes.
//!
//! The cluster client routes every keyed command itself; this map is for what it
//! cannot route: a pipeline of writes to many slots of one master (batch_init), the
//! master of a write ([`super::replicas`]), and spreading saga recovery
//! over the shards. Correctness never rests on it being fresh: a write sent to a node
//! that lost the slot is answered MOVED and sent again after the map is learnt anew.
//!
//! It is also how the service learns of a failover that no error tells it of: a paused
//! master answers nothing, so the client's own slot map keeps pointing at it. When a
//! map names another master for a slot than the map before, the topology's `on_moved`
//! is told the new masters (the store replaces its connection).
//!
//! A node can answer with a map older than the one held: a master that just woke from a
//! pause, or one cut off from the other masters, still names itself until the cluster
//! bus tells it otherwise. Every failover raises the cluster's current epoch, and a node
//! learns the new epoch with the new owner of the slots, so the nodes are asked for their
//! `cluster_current_epoch` too, and a map that names other masters from a node whose epoch
//! is below the held map's is not taken ([`Map::is_behind`]); else the store would turn to
//! the old master and back again as it asks one node after the other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionAddr, ConnectionInfo, RedisResult, Value};

use super::reply::{int, text};

/// Redis Cluster's number of hash slots.
pub const SLOTS: u16 = 16384;

/// The slot of a key: CRC16 (XMODEM) of its hash tag (the part between the first `{`
/// and the next `}`, when not empty) or of the whole key, mod 16384, as Redis computes it.
pub fn slot_of(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(key)) % SLOTS
}

/// The slots of the witness masters (ops' cluster rules lay them out: masters added to a
/// cluster of fewer than three data masters, so that a failover has a majority to vote
/// for it). They hold no data and refuse every write, so no key of ours may map to them:
/// every hash tag we write comes from [`tag`], or is a fixed one that a test checks.
/// The same as `ops::cluster::rules::WITNESS_SLOTS` (common/tests/cluster_spread.rs
/// checks it; `ops` cannot be a dependency of the services).
pub const WITNESS_SLOTS: [u16; 2] = [16382, 16383];

/// The hash tag of an entity's keys: its id, unless the id's slot is a witness slot
/// ([`WITNESS_SLOTS`], 2 ids in 16 384), then the id with `.` appended until it is not.
/// Ids are letters, digits, `-` and `_`, so no other id has that tag.
pub fn tag(id: &str) -> std::borrow::Cow<'_, str> {
    if !WITNESS_SLOTS.contains(&slot_of(id.as_bytes())) {
        return id.into();
    }
    let mut moved = format!("{id}.");
    while WITNESS_SLOTS.contains(&slot_of(moved.as_bytes())) {
        moved.push('.');
    }
    moved.into()
}

/// A master's address, as the cluster announces it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Node {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Slot ranges and their masters.
#[derive(Debug)]
pub struct Map {
    pub nodes: Vec<Node>,
    /// Every node the answer lists, masters and their replicas: whom to ask next.
    pub listed: Vec<Node>,
    /// `(first slot, last slot, index in nodes)`, sorted.
    ranges: Vec<(u16, u16, usize)>,
    /// The answering node's `cluster_current_epoch`, when asked ([`Direct`]).
    pub epoch: Option<u64>,
}

impl Map {
    /// The index (in `nodes`) of the master serving `slot`; an unserved slot goes to the
    /// first master, which answers it with an error that the caller retries.
    pub fn owner(&self, slot: u16) -> usize {
        let at = self.ranges.partition_point(|&(_, last, _)| last < slot);
        match self.ranges.get(at) {
            Some(&(first, _, node)) if first <= slot => node,
            _ => 0,
        }
    }

    /// Whether `other` names the same master for every slot range.
    pub fn same_masters(&self, other: &Map) -> bool {
        fn named(map: &Map) -> Vec<(u16, u16, &Node)> {
            let mut ranges: Vec<_> = map
                .ranges
                .iter()
                .map(|&(first, last, node)| (first, last, &map.nodes[node]))
                .collect();
            ranges.sort_unstable_by_key(|&(first, last, _)| (first, last));
            ranges
        }
        named(self) == named(other)
    }

    /// Whether `self`, a new answer, comes from a node that has not yet learnt what the
    /// held map `held` was learnt from: its epoch is lower, and it names other masters.
    pub fn is_behind(&self, held: &Map) -> bool {
        matches!((self.epoch, held.epoch), (Some(new), Some(old)) if new < old)
            && !self.same_masters(held)
    }

    /// Reads a `CLUSTER SLOTS` answer.
    pub fn parse(reply: &Value) -> Option<Map> {
        let Value::Array(entries) = reply else {
            return None;
        };
        let mut map = Map {
            nodes: Vec::new(),
            listed: Vec::new(),
            ranges: Vec::new(),
            epoch: None,
        };
        for entry in entries {
            let Value::Array(fields) = entry else {
                return None;
            };
            let (first, last) = (int(fields.first()?)?, int(fields.get(1)?)?);
            let Value::Array(master) = fields.get(2)? else {
                return None;
            };
            let node = Node {
                host: text(master.first()?)?,
                port: u16::try_from(int(master.get(1)?)?).ok()?,
            };
            let index = match map.nodes.iter().position(|n| *n == node) {
                Some(i) => i,
                None => {
                    map.nodes.push(node);
                    map.nodes.len() - 1
                }
            };
            map.ranges
                .push((u16::try_from(first).ok()?, u16::try_from(last).ok()?, index));
            for copy in &fields[2..] {
                let Value::Array(copy) = copy else { continue };
                let listed = copy.first().and_then(text).zip(copy.get(1).and_then(int));
                if let Some((host, port)) = listed {
                    let node = Node {
                        host,
                        port: u16::try_from(port).ok()?,
                    };
                    if !map.listed.contains(&node) {
                        map.listed.push(node);
                    }
                }
            }
        }
        map.ranges.sort_unstable();
        (!map.nodes.is_empty()).then_some(map)
    }
}

/// Told the masters of a map that names another master for some slot than the map
/// before it.
type OnMoved = dyn Fn(&[Node]) + Send + Sync;

/// The last map learnt, and when.
pub struct Topology {
    learnt: Mutex<Option<(Instant, Arc<Map>)>>,
    /// The last map learnt, also after [`Topology::invalidate`]: what a new one is
    /// compared with.
    seen: Mutex<Option<Arc<Map>>>,
    refreshing: AtomicBool,
    /// Answers in a row not taken because they were behind the held map: once every node
    /// of the map has been asked, the next answer is taken whatever its epoch (a cluster
    /// created anew starts again at a low epoch).
    behind: AtomicUsize,
    on_moved: Box<OnMoved>,
    /// Asks the nodes of the last map directly, when set ([`Topology::asking_nodes`]).
    direct: Option<Direct>,
}

/// Connections of their own to single nodes, to ask them for the map. The cluster
/// connection holds every command while it recovers from a lost node (its slot refresh
/// waits for connects to the dead node, a whole connect timeout where a killed
/// container's address no longer answers), and a failover would be seen only after that.
struct Direct {
    /// `REDIS_URL`'s first node: credentials and database for every node asked.
    base: ConnectionInfo,
    open: Mutex<HashMap<Node, MultiplexedConnection>>,
    /// The next node to ask, in the order the last map lists them (a dead or paused one
    /// costs one question, then the next is asked).
    next: AtomicUsize,
}

impl Direct {
    /// `CLUSTER SLOTS` of the next node of `map` and its current epoch, within
    /// [`Topology::FRESH`].
    async fn ask(&self, map: &Map) -> RedisResult<(Value, Option<u64>)> {
        let at = self.next.fetch_add(1, Ordering::Relaxed) % map.listed.len().max(1);
        let node = map.listed.get(at).or(map.nodes.first()).cloned();
        let node = node.ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Client, "the map lists no node"))
        })?;
        let asked = tokio::time::timeout(Topology::FRESH, self.slots_of(&node)).await;
        let answer = asked.unwrap_or_else(|_| {
            Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "no answer to CLUSTER SLOTS in time",
            )))
        });
        if answer.is_err() {
            self.open
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&node);
        }
        answer
    }

    async fn slots_of(&self, node: &Node) -> RedisResult<(Value, Option<u64>)> {
        let cached = self
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(node)
            .cloned();
        let mut conn = match cached {
            Some(conn) => conn,
            None => {
                let addr = ConnectionAddr::Tcp(node.host.clone(), node.port);
                let client = redis::Client::open(self.base.clone().set_addr(addr))?;
                let conn = client.get_multiplexed_async_connection().await?;
                self.open
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(node.clone(), conn.clone());
                conn
            }
        };
        let (slots, info): (Value, String) = redis::pipe()
            .cmd("CLUSTER")
            .arg("SLOTS")
            .cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut conn)
            .await?;
        Ok((slots, current_epoch(&info)))
    }
}

/// `cluster_current_epoch` of a `CLUSTER INFO` answer.
fn current_epoch(info: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.trim().strip_prefix("cluster_current_epoch:"))
        .and_then(|v| v.parse().ok())
}

impl Topology {
    /// How long a learnt map is used before it is asked for again, and how long asking
    /// may take (a paused node answers nothing: the next try asks another).
    pub const FRESH: Duration = Duration::from_millis(250);

    pub fn new(on_moved: impl Fn(&[Node]) + Send + Sync + 'static) -> Self {
        Topology {
            learnt: Mutex::new(None),
            seen: Mutex::new(None),
            refreshing: AtomicBool::new(false),
            behind: AtomicUsize::new(0),
            on_moved: Box::new(on_moved),
            direct: None,
        }
    }

    /// Once a map is known, asks its nodes one by one over connections of their own (with
    /// `base`'s credentials), not the cluster connection ([`Direct`]). Only for plain TCP.
    pub fn asking_nodes(mut self, base: ConnectionInfo) -> Self {
        if matches!(base.addr(), ConnectionAddr::Tcp(..)) {
            self.direct = Some(Direct {
                base,
                open: Mutex::new(HashMap::new()),
                next: AtomicUsize::new(0),
            });
        }
        self
    }

    /// The map, asked for again when older than [`Topology::FRESH`] (or `force`).
    pub async fn current(&self, mut conn: ClusterConnection, force: bool) -> RedisResult<Arc<Map>> {
        if !force {
            if let Some((at, map)) = self
                .learnt
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
            {
                if at.elapsed() < Self::FRESH {
                    return Ok(map.clone());
                }
            }
        }
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (reply, epoch) = match (&self.direct, &seen) {
            (Some(direct), Some(seen)) => direct.ask(seen).await?,
            _ => {
                let slots: Value = redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query_async(&mut conn)
                    .await?;
                (slots, None)
            }
        };
        let mut map = Map::parse(&reply).ok_or_else(|| {
            redis::RedisError::from((
                redis::ErrorKind::Client,
                "CLUSTER SLOTS answered no slot range (is the cluster created?)",
            ))
        })?;
        map.epoch = epoch;
        if let Some(held) = seen.filter(|held| map.is_behind(held)) {
            let in_a_row = self.behind.fetch_add(1, Ordering::Relaxed) + 1;
            if in_a_row < held.listed.len().max(1) {
                // Not learnt: the next caller asks the next node at once.
                tracing::debug!(answer = ?map.epoch, held = ?held.epoch, "a node answered an older map: not taken");
                return Ok(held);
            }
        }
        self.behind.store(0, Ordering::Relaxed);
        let map = Arc::new(map);
        *self.learnt.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), map.clone()));
        let before = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(map.clone());
        if before.is_some_and(|before| !before.same_masters(&map)) {
            (self.on_moved)(&map.nodes);
        }
        Ok(map)
    }

    /// The last map learnt, however old (a hint), or `None` before the first; a map
    /// older than [`Topology::FRESH`] is asked for again in the background (one request at a
    /// time) for the next caller.
    pub fn cached_or_refresh(self: &Arc<Self>, conn: &ClusterConnection) -> Option<Arc<Map>> {
        let (map, stale) = match self
            .learnt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            Some((at, map)) => (Some(map.clone()), at.elapsed() >= Self::FRESH),
            None => (None, true),
        };
        if stale && !self.refreshing.swap(true, Ordering::AcqRel) {
            let (topology, conn) = (self.clone(), conn.clone());
            tokio::spawn(async move {
                let learnt = tokio::time::timeout(Self::FRESH, topology.current(conn, true)).await;
                if let Ok(Err(e)) = learnt {
                    tracing::debug!(error = %e, "learning the cluster's slots failed");
                }
                topology.refreshing.store(false, Ordering::Release);
            });
        }
        map
    }

    /// Forgets the map (after a MOVED): the next use asks for it again.
    pub fn invalidate(&self) {
        *self.learnt.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // Values from `CLUSTER KEYSLOT` of Redis 7.0.
        assert_eq!(slot_of(b"foo"), 12182);
        assert_eq!(slot_of(b"123456789"), 12739);
        assert_eq!(slot_of(b"item:{foo}"), slot_of(b"foo"));
        assert_eq!(slot_of(b"{foo}:x"), 12182);
        // An empty tag hashes the whole key; only the first tag counts.
        assert_eq!(
            slot_of(b"a{}b"),
            crc16::State::<crc16::XMODEM>::calculate(b"a{}b") % SLOTS
        );
        assert_eq!(slot_of(b"x{a}{b}"), slot_of(b"a"));
    }

    #[test]
    fn no_tag_maps_to_a_witness_slot() {
        // Ids whose own slot is a witness slot (CLUSTER KEYSLOT: 16382 and 16383) move.
        assert_eq!(slot_of(b"15179"), 16382);
        assert_eq!(slot_of(b"39296"), 16383);
        assert_eq!(tag("15179"), "15179.");
        assert_eq!(tag("39296"), "39296.");
        // Every other id is its own tag.
        assert_eq!(tag("15180"), "15180");
        for n in 0..200_000 {
            let id = n.to_string();
            let tagged = tag(&id);
            assert!(!WITNESS_SLOTS.contains(&slot_of(tagged.as_bytes())), "{id}");
            assert_eq!(
                tagged == id,
                !WITNESS_SLOTS.contains(&slot_of(id.as_bytes()))
            );
        }
    }

    /// A node of a `CLUSTER SLOTS` answer: address, port, id.
    fn node(port: i64) -> Value {
        Value::Array(vec![
            Value::BulkString(b"127.0.0.1".to_vec()),
            Value::Int(port),
            Value::BulkString(b"id".to_vec()),
        ])
    }

    #[test]
    fn owners_follow_the_ranges() {
        let reply = Value::Array(vec![
            Value::Array(vec![Value::Int(5461), Value::Int(10922), node(2), node(5)]),
            Value::Array(vec![Value::Int(0), Value::Int(5460), node(1), node(4)]),
            Value::Array(vec![Value::Int(10923), Value::Int(16383), node(3)]),
        ]);
        let map = Map::parse(&reply).expect("parsed");
        let port = |slot| map.nodes[map.owner(slot)].port;
        assert_eq!((port(0), port(5460), port(5461), port(16383)), (1, 1, 2, 3));
        assert_eq!(port(7000), 2);
        assert!(Map::parse(&Value::Array(vec![])).is_none());

        // The same masters listed in another order (another node's answer) are no
        // failover; a replica promoted in one range is.
        let reordered = Value::Array(vec![
            Value::Array(vec![Value::Int(10923), Value::Int(16383), node(3)]),
            Value::Array(vec![Value::Int(0), Value::Int(5460), node(1), node(4)]),
            Value::Array(vec![Value::Int(5461), Value::Int(10922), node(2)]),
        ]);
        assert!(map.same_masters(&Map::parse(&reordered).expect("parsed")));
        let promoted = Value::Array(vec![
            Value::Array(vec![Value::Int(0), Value::Int(5460), node(1)]),
            Value::Array(vec![Value::Int(5461), Value::Int(10922), node(5)]),
            Value::Array(vec![Value::Int(10923), Value::Int(16383), node(3)]),
        ]);
        assert!(!map.same_masters(&Map::parse(&promoted).expect("parsed")));
    }

    #[test]
    fn an_older_map_from_a_node_behind_is_told_apart() {
        let map = |master: i64, epoch: Option<u64>| {
            let reply = Value::Array(vec![Value::Array(vec![
                Value::Int(0),
                Value::Int(16383),
                node(master),
            ])]);
            let mut map = Map::parse(&reply).expect("parsed");
            map.epoch = epoch;
            map
        };
        // Held: the replica promoted at epoch 7. A woken old master, still at 6, names
        // itself: behind. The same answer at 7 or later, or without an epoch, is taken.
        let held = map(2, Some(7));
        assert!(map(1, Some(6)).is_behind(&held));
        assert!(!map(1, Some(7)).is_behind(&held));
        assert!(!map(1, Some(8)).is_behind(&held));
        assert!(!map(1, None).is_behind(&held));
        assert!(!map(1, Some(6)).is_behind(&map(2, None)));
        // A node behind that names the same masters changes nothing either way.
        assert!(!map(2, Some(3)).is_behind(&held));

        let info = "cluster_state:ok\r\ncluster_current_epoch:12\r\ncluster_my_epoch:3\r\n";
        assert_eq!(current_epoch(info), Some(12));
        assert_eq!(current_epoch("cluster_state:ok\r\n"), None);
    }
}

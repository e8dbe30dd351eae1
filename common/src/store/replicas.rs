//! How writes travel so that each is acknowledged by the rule of [`super::acknowledgement`]:
//! the replica acknowledgement writer, with its own state (which masters are alone, one
//! writer task per master) and its own counters.
//!
//! Redis replicates asynchronously, and a failover promotes a replica with whatever
//! it has received: a write acknowledged by the master alone can vanish when the
//! master dies. So every write travels in a pipeline with `WAIT 1 <ms>` after it
//! (`WAIT` inside a script would not block), and the answer goes to the caller only
//! when that `WAIT` counted a replica.
//!
//! The writes to one master go through one task (a group commit): it sends whatever
//! writes are waiting as one pipeline with one `WAIT` at its end, and the next
//! pipeline when that one is answered (while the writes come several at a time, after
//! lingering `REDIS_WRITE_LINGER_MS` for more: see [`write_loop`]). A blocked `WAIT`
//! holds up every later command of its connection, so one `WAIT` per write would queue
//! the writes behind each other's waits; one per pipeline costs a round trip per batch,
//! and a replica that dies stalls one batch, not every write in flight.
//!
//! When the `WAIT` counts none, the master is asked with `ROLE` which replicas are
//! online. None online: the replica is the node that failed (or is still syncing
//! after coming back). The write is then on the master's `appendfsync always` AOF, and
//! under one failure at a time the master outlives that write's exposure (a replica
//! that comes back syncs from the master before the cluster counts as whole again),
//! so it is acknowledged, and the master is remembered as alone for a while: its
//! next writes carry `ROLE` instead of `WAIT`, which costs no wait. A replica online
//! that did not acknowledge in time: the write is not acknowledged, and the store
//! sends it again (every write of ours is safe to repeat) within `REDIS_WAIT_MS`.
//!
//! It knows nothing of the store that uses it: it is given the connection, the master
//! and how many replicas the slot map lists beside it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::core::Collector;
use prometheus::IntCounter;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisResult, ServerErrorKind, Value};
use tokio::sync::{mpsc, oneshot};

use super::acknowledgement::{check_cmd, judge, judge_role, Verdict};
use super::topology::Node;
use crate::metrics::checked;

/// How many writes one pipeline carries at most.
const BATCH: usize = 512;

/// How long a master that answered "no replica online" is taken to stay alone.
/// (Only a hint: a write to a master taken to be alone asks `ROLE` in the same round
/// trip, so a replica that came back is seen by the next write.)
const ALONE_FOR: Duration = Duration::from_secs(10);

pub(crate) struct Replicas {
    /// `REDIS_REPLICA_WAIT_MS`: how long a write waits for a replica's acknowledgement.
    wait: Duration,
    /// `REDIS_WRITE_LINGER_MS`: how long a busy writer waits for more writes.
    linger: Duration,
    alone: Mutex<HashMap<Node, Instant>>,
    /// The writer task of each master.
    writers: Mutex<HashMap<Node, mpsc::UnboundedSender<Job>>>,
    /// `redis_unreplicated_writes_total`.
    unreplicated: IntCounter,
    /// `redis_replica_lag_total`.
    lagging: IntCounter,
}

/// One write waiting for its master's writer.
struct Job {
    cmd: Cmd,
    slot: u16,
    conn: ClusterConnection,
    /// How many replicas the slot map lists beside the master (0: it has none).
    listed: usize,
    reply: oneshot::Sender<RedisResult<Value>>,
}

impl Replicas {
    pub(crate) fn new(wait: Duration, linger: Duration) -> Arc<Self> {
        Arc::new(Replicas {
            wait,
            linger,
            alone: Mutex::new(HashMap::new()),
            writers: Mutex::new(HashMap::new()),
            unreplicated: checked(IntCounter::new(
                "redis_unreplicated_writes_total",
                "Writes acknowledged with no replica online for their master (on the \
                 master's fsynced AOF only, while its replica is down).",
            )),
            lagging: checked(IntCounter::new(
                "redis_replica_lag_total",
                "Writes whose master has a replica online that did not acknowledge them \
                 within REDIS_REPLICA_WAIT_MS (not acknowledged: the write is retried).",
            )),
        })
    }

    pub(crate) fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.unreplicated.clone()),
            Box::new(self.lagging.clone()),
        ]
    }

    /// Sends `cmd` (a write to `slot`, served by `node` with `listed` replicas beside
    /// it) through the master's writer and answers its reply once it is acknowledged.
    pub(crate) async fn write(
        self: &Arc<Self>,
        conn: ClusterConnection,
        node: Node,
        slot: u16,
        listed: usize,
        cmd: Cmd,
    ) -> RedisResult<Value> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            cmd,
            slot,
            conn,
            listed,
            reply,
        };
        self.writer(node).send(job).map_err(|_| {
            RedisError::from((ErrorKind::Io, "the writer of a redis master stopped"))
        })?;
        answer.await.map_err(|_| {
            RedisError::from((
                ErrorKind::Server(ServerErrorKind::TryAgain),
                "the writer of a redis master dropped a write",
            ))
        })?
    }

    /// Sends a pipeline of writes to `node` (writes to slots it served a moment ago;
    /// `listed` replicas beside it) and answers once they are acknowledged.
    pub(crate) async fn write_pipeline(
        &self,
        conn: ClusterConnection,
        node: Node,
        slot: u16,
        listed: usize,
        pipe: Pipeline,
    ) -> RedisResult<()> {
        let alone = listed == 0 || self.is_alone(&node);
        let (values, acked) = self.send_checked(conn, &node, slot, alone, pipe).await?;
        for value in values {
            if let Value::ServerError(e) = value {
                return Err(e.into());
            }
        }
        acked
    }

    /// The writer task of `node`, started on first use.
    fn writer(self: &Arc<Self>, node: Node) -> mpsc::UnboundedSender<Job> {
        let mut writers = self.writers.lock().unwrap_or_else(|e| e.into_inner());
        writers
            .entry(node.clone())
            .or_insert_with(|| {
                let (send, receive) = mpsc::unbounded_channel();
                tokio::spawn(write_loop(self.clone(), node, receive));
                send
            })
            .clone()
    }

    fn is_alone(&self, node: &Node) -> bool {
        let alone = self.alone.lock().unwrap_or_else(|e| e.into_inner());
        alone
            .get(node)
            .is_some_and(|since| since.elapsed() < ALONE_FOR)
    }

    fn set_alone(&self, node: Node, alone: bool) {
        let mut map = self.alone.lock().unwrap_or_else(|e| e.into_inner());
        if alone {
            map.insert(node, Instant::now());
        } else {
            map.remove(&node);
        }
    }

    /// Sends `pipe` (writes to slots of `node`) with the replication check after it, and
    /// answers the writes' replies and whether they may be acknowledged.
    async fn send_checked(
        &self,
        conn: ClusterConnection,
        node: &Node,
        slot: u16,
        alone: bool,
        mut pipe: Pipeline,
    ) -> RedisResult<(Vec<Value>, RedisResult<()>)> {
        pipe.add_command(check_cmd(alone, self.wait));
        let count = pipe.cmd_iter().count();
        let mut values = conn
            .clone()
            .route_pipeline(pipe, 0, count, master_of(slot))
            .await?;
        if values.len() != count {
            return Err(short_reply());
        }
        let check = values.pop().ok_or_else(short_reply)?;
        let acked = self.acknowledge(conn, node, slot, alone, &check).await;
        Ok((values, acked))
    }

    /// Applies the rule to a pipeline's last answer (asking `ROLE` when it says so), and
    /// remembers whether the master is alone.
    async fn acknowledge(
        &self,
        mut conn: ClusterConnection,
        node: &Node,
        slot: u16,
        alone: bool,
        check: &Value,
    ) -> RedisResult<()> {
        let verdict = match judge(alone, check) {
            Verdict::AskRole => {
                let role = conn
                    .route_command(redis::cmd("ROLE"), RoutingInfo::SingleNode(master_of(slot)))
                    .await?;
                judge_role(&role)
            }
            verdict => verdict,
        };
        match verdict {
            Verdict::Replicated => Ok(()),
            Verdict::Alone => {
                self.unreplicated.inc();
                if !self.is_alone(node) {
                    tracing::warn!(master = %node, "no replica online: writes are acknowledged on the master's AOF alone");
                }
                self.set_alone(node.clone(), true);
                Ok(())
            }
            Verdict::Lagging(n) => {
                // A replica is (back) online: the next pipeline waits for it.
                self.set_alone(node.clone(), false);
                self.lagging.inc();
                Err(not_acknowledged(format!(
                    "{n} replica(s) of {node} online, none acknowledged within {} ms",
                    self.wait.as_millis()
                )))
            }
            Verdict::NotMaster | Verdict::AskRole => {
                Err(not_acknowledged(format!("{node} is no master any more")))
            }
        }
    }
}

fn not_acknowledged(what: String) -> RedisError {
    RedisError::from((
        ErrorKind::Server(ServerErrorKind::TryAgain),
        "write not acknowledged by a replica",
        what,
    ))
}

/// The master of `slot` as the cluster client knows it: the writes of one batch are to
/// slots of one master, and one of them names it (the client connected to the address
/// it was given or told, which `CLUSTER SLOTS` may leave empty for a node that was never
/// introduced to another).
fn master_of(slot: u16) -> SingleNodeRoutingInfo {
    SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master))
}

fn short_reply() -> RedisError {
    RedisError::from((ErrorKind::Parse, "short pipeline reply"))
}

/// A master's writer: takes every write waiting, sends them as one pipeline ending in
/// the replication check, answers each, and starts over.
///
/// Every pipeline costs each of the master and its replica an fsync and a wakeup, and
/// the `WAIT` a round trip between them, whatever it carries. So while writes come
/// several to a pipeline (the service is busy), the writer lingers
/// `REDIS_WRITE_LINGER_MS` after the first of the next one, for more to join it; a
/// lone write (a quiet service) goes at once.
async fn write_loop(replicas: Arc<Replicas>, node: Node, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut busy = false;
    while let Some(first) = jobs.recv().await {
        if busy && !replicas.linger.is_zero() {
            tokio::time::sleep(replicas.linger).await;
        }
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        busy = batch.len() > 1;
        // Callers that gave up (their attempt timed out) need no answer.
        batch.retain(|job| !job.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let alone = batch.iter().any(|job| job.listed == 0) || replicas.is_alone(&node);
        let mut pipe = Pipeline::with_capacity(batch.len() + 1);
        for job in &batch {
            pipe.add_command(job.cmd.clone());
        }
        let (conn, slot) = (batch[0].conn.clone(), batch[0].slot);
        let answers = match replicas.send_checked(conn, &node, slot, alone, pipe).await {
            Ok((values, acked)) => values
                .into_iter()
                .map(|value| match (value, &acked) {
                    (Value::ServerError(e), _) => Err(e.into()),
                    (value, Ok(())) => Ok(value),
                    (_, Err(e)) => Err(e.clone()),
                })
                .collect(),
            Err(e) => vec![Err(e); batch.len()],
        };
        for (job, answer) in batch.into_iter().zip(answers) {
            let _ = job.reply.send(answer);
        }
    }
}

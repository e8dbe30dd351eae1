//! How writes travel so that each is acknowledged by the rule of [`super::acknowledgement`]:
//! the replica acknowledgement writer, with its own state (how many replicas each master
//! requires, one writer task per master) and its own counter.
//!
//! Redis replicates asynchronously, and a failover promotes a replica with whatever
//! it has received: a write acknowledged by the master alone can vanish when the
//! master dies. So every write travels in a pipeline with `WAIT n <ms>` after it
//! (`WAIT` inside a script would not block), and the answer goes to the caller only
//! when that `WAIT` counted the `n` replicas its master requires (its
//! `min-replicas-to-write`, asked once per master with `CONFIG GET`).
//!
//! The writes to one master go through one task (a group commit): it sends whatever
//! writes are waiting as one pipeline with one `WAIT` at its end, and the next
//! pipeline when that one is answered (while the writes come several at a time, after
//! lingering `REDIS_WRITE_LINGER_MS` for more: see [`write_loop`]). A blocked `WAIT`
//! holds up every later command of its connection, so one `WAIT` per write would queue
//! the writes behind each other's waits; one per pipeline costs a round trip per batch,
//! and a replica that dies stalls one batch, not every write in flight.
//!
//! When the `WAIT` counts fewer replicas than required (a replica down or behind, a
//! master that was failed over while paused and no longer has any), the writes are not
//! acknowledged, and the store sends them again within `REDIS_WAIT_MS`: to the same
//! master once a replica caught up, or to the one that replaced it.
//!
//! It knows nothing of the store that uses it: it is given the connection, the master
//! and a slot the master serves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::IntCounter;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisResult, ServerErrorKind, Value};
use tokio::sync::{mpsc, oneshot};

use super::acknowledgement::{check_cmd, judge, read_required, required_cmd, Verdict};
use super::topology::Node;
use crate::metrics::checked;

/// How many writes one pipeline carries at most.
const BATCH: usize = 512;

pub(crate) struct Replicas {
    /// `REDIS_TIMEOUT_MS`: how long a pipeline's master may take to answer, beyond the
    /// `WAIT`, before its writes are failed (a paused master must not hold its writer).
    timeout: Duration,
    /// `REDIS_REPLICA_WAIT_MS`: how long a write waits for its replicas' acknowledgement.
    wait: Duration,
    /// `REDIS_WRITE_LINGER_MS`: how long a busy writer waits for more writes.
    linger: Duration,
    /// How many replicas each master requires (its `min-replicas-to-write`), once asked.
    required: Mutex<HashMap<Node, usize>>,
    /// The writer task of each master.
    writers: Mutex<HashMap<Node, mpsc::UnboundedSender<Job>>>,
    /// `redis_replica_lag_total`.
    lagging: IntCounter,
}

/// One write waiting for its master's writer.
struct Job {
    cmd: Cmd,
    slot: u16,
    conn: ClusterConnection,
    reply: oneshot::Sender<RedisResult<Value>>,
}

impl Replicas {
    pub(crate) fn new(timeout: Duration, wait: Duration, linger: Duration) -> Arc<Self> {
        Arc::new(Replicas {
            timeout,
            wait,
            linger,
            required: Mutex::new(HashMap::new()),
            writers: Mutex::new(HashMap::new()),
            lagging: checked(IntCounter::new(
                "redis_replica_lag_total",
                "Write pipelines that fewer replicas than their master requires \
                 acknowledged within REDIS_REPLICA_WAIT_MS (not acknowledged: the writes \
                 are retried).",
            )),
        })
    }

    pub(crate) fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![Box::new(self.lagging.clone())]
    }

    /// Sends `cmd` (a write to `slot`, served by `node`) through the master's writer and
    /// answers its reply once it is acknowledged.
    pub(crate) async fn write(
        self: &Arc<Self>,
        conn: ClusterConnection,
        node: Node,
        slot: u16,
        cmd: Cmd,
    ) -> RedisResult<Value> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            cmd,
            slot,
            conn,
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

    /// Sends a pipeline of writes to `node` (writes to slots it served a moment ago)
    /// and answers once they are acknowledged.
    pub(crate) async fn write_pipeline(
        &self,
        conn: ClusterConnection,
        node: Node,
        slot: u16,
        pipe: Pipeline,
    ) -> RedisResult<()> {
        let (values, acked) = self.send_checked(conn, &node, slot, pipe).await?;
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

    /// How many replicas `node` requires: its `min-replicas-to-write`, asked once (and
    /// again after a failed pipeline). A master that will not say (CONFIG renamed or
    /// refused) is taken to require one: never less safe than the topology we ship.
    async fn required(
        &self,
        conn: &ClusterConnection,
        node: &Node,
        slot: u16,
    ) -> RedisResult<usize> {
        if let Some(n) = self
            .required
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(node)
        {
            return Ok(*n);
        }
        let answer = conn
            .clone()
            .route_command(required_cmd(), RoutingInfo::SingleNode(master_of(slot)))
            .await;
        let required = match answer {
            Ok(answer) => read_required(&answer).unwrap_or(1),
            // An error answer (not a lost connection): the master refuses to say.
            Err(e) if matches!(e.kind(), ErrorKind::Server(_)) => 1,
            Err(e) => return Err(e),
        };
        self.required
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node.clone(), required);
        Ok(required)
    }

    fn forget_required(&self, node: &Node) {
        self.required
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(node);
    }

    /// Sends `pipe` (writes to slots of `node`) with the replication check after it, and
    /// answers the writes' replies and whether they may be acknowledged.
    async fn send_checked(
        &self,
        conn: ClusterConnection,
        node: &Node,
        slot: u16,
        mut pipe: Pipeline,
    ) -> RedisResult<(Vec<Value>, RedisResult<()>)> {
        let required = self.required(&conn, node, slot).await?;
        let check = check_cmd(required, self.wait);
        let checked = check.is_some();
        if let Some(check) = check {
            pipe.add_command(check);
        }
        let count = pipe.cmd_iter().count();
        let sent = conn
            .clone()
            .route_pipeline(pipe, 0, count, master_of(slot))
            .await;
        let mut values = match sent {
            Ok(values) if values.len() == count => values,
            Ok(_) => {
                self.forget_required(node);
                return Err(short_reply());
            }
            Err(e) => {
                self.forget_required(node);
                return Err(e);
            }
        };
        let answer = if checked { values.pop() } else { None };
        let acked = match judge(required, answer.as_ref()) {
            Verdict::Acknowledged => Ok(()),
            Verdict::Short { counted, required } => {
                self.lagging.inc();
                Err(not_acknowledged(format!(
                    "{counted} of the {required} replica(s) {node} requires acknowledged within {} ms",
                    self.wait.as_millis()
                )))
            }
        };
        Ok((values, acked))
    }
}

fn not_acknowledged(what: String) -> RedisError {
    RedisError::from((
        ErrorKind::Server(ServerErrorKind::TryAgain),
        "write not acknowledged by enough replicas",
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
/// Every pipeline costs each of the master and its replicas an fsync and a wakeup, and
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
        let mut pipe = Pipeline::with_capacity(batch.len() + 1);
        for job in &batch {
            pipe.add_command(job.cmd.clone());
        }
        let (conn, slot) = (batch[0].conn.clone(), batch[0].slot);
        let bound = replicas.timeout + replicas.wait;
        let sending = tokio::time::timeout(bound, replicas.send_checked(conn, &node, slot, pipe));
        // The writer is one task per master: a pipeline that hangs holds up every write
        // queued behind it. Once every caller of this one has left (their try timed out, or
        // the connection was replaced after a failover and they are sending again, perhaps
        // to this writer), nobody waits for its answer: it is dropped, and the next batch
        // goes. Seen in compose: a pipeline sent on the old connection, whose slot map still
        // named the paused master, held the new master's writer until that master woke.
        let everyone_left = futures::future::join_all(batch.iter_mut().map(|j| j.reply.closed()));
        let sent = tokio::select! {
            sent = sending => sent,
            _ = everyone_left => {
                replicas.forget_required(&node);
                continue;
            }
        };
        let sent = sent.unwrap_or_else(|_| {
            replicas.forget_required(&node);
            Err(RedisError::from((
                ErrorKind::Server(ServerErrorKind::TryAgain),
                "a redis master did not answer a write pipeline in time",
                format!("{node}, {} ms", bound.as_millis()),
            )))
        });
        let answers = match sent {
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

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::store::slot_of;
    use crate::testing::RedisCluster;
    use std::time::Instant;

    /// A writer's pipeline that hangs on a paused node (sent on a connection whose slot map
    /// names another master than the writer's, as after a failover) is dropped once its
    /// callers have left: the next write to the writer's own master is answered at once,
    /// not after the hung pipeline's bound.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hung_pipeline_nobody_waits_for_does_not_hold_up_the_writer() {
        let cluster = RedisCluster::start(3, 0);
        let hung_key = "writer-test-a";
        let paused = cluster.master_of(hung_key);
        let key = (0..)
            .map(|n| format!("writer-test-b{n}"))
            .find(|k| cluster.master_of(k) != paused)
            .expect("a key on another master");
        let writer_master = &cluster.nodes[cluster.master_of(&key)];
        let node = Node {
            host: "127.0.0.1".into(),
            port: writer_master.port(),
        };
        let urls: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
        let conn = redis::cluster::ClusterClient::new(urls)
            .expect("cluster client")
            .get_async_connection()
            .await
            .expect("cluster connection");
        // Bounds far apart: a pipeline may hang for 5 s, a caller waits 0.3 s.
        let replicas = Replicas::new(
            Duration::from_secs(5),
            Duration::from_millis(250),
            Duration::ZERO,
        );

        cluster.nodes[paused].pause();
        let mut incr = redis::cmd("INCR");
        incr.arg(hung_key);
        let gave_up = tokio::time::timeout(
            Duration::from_millis(300),
            replicas.write(
                conn.clone(),
                node.clone(),
                slot_of(hung_key.as_bytes()),
                incr,
            ),
        )
        .await;
        let started = Instant::now();
        let mut incr = redis::cmd("INCR");
        incr.arg(&key);
        let answered = tokio::time::timeout(
            Duration::from_secs(10),
            replicas.write(conn.clone(), node, slot_of(key.as_bytes()), incr),
        )
        .await;
        let took = started.elapsed();
        cluster.nodes[paused].resume();

        assert!(
            gave_up.is_err(),
            "the write to the paused master was answered: {gave_up:?}"
        );
        assert!(
            matches!(answered, Ok(Ok(Value::Int(1)))),
            "the write to the live master: {answered:?}"
        );
        assert!(
            took < Duration::from_secs(1),
            "the write to the live master waited {took:?} behind a pipeline nobody waited for"
        );
    }
}

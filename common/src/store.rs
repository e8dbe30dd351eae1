//! The Redis Cluster connection every service uses, with a bound on every wait and
//! the rule that makes an acknowledged write survive the loss of any one node.
//!
//! Nothing here knows a key: each service's own `store.rs` owns its keys and
//! scripts, hash-tagged so that every script touches one slot. What this module
//! guarantees:
//!
//! - **No call hangs.** Opening the connection and every attempt of a command are
//!   bounded by `REDIS_TIMEOUT_MS`; a cluster that is down or slow becomes
//!   [`StoreError::Unavailable`] (a 503).
//! - **A restart or a failover is a wait.** Reads and public writes retry what may
//!   pass (refused or lost connections, timeouts, `MOVED`, `CLUSTERDOWN`, `TRYAGAIN`,
//!   a replica that has not acknowledged yet) within `REDIS_WAIT_MS`; every write of
//!   ours is safe to send again (an idempotency record, or a saga step keyed by saga).
//! - **A write is acknowledged only once it is on two nodes** ([`replicas`]): each
//!   write is sent in one round trip with `WAIT 1` after it, and answered only when a
//!   replica has it, or when its master has no replica online at all (then the
//!   master's `appendfsync always` AOF holds it, and the one failure the topology
//!   survives has already happened). See docs/design.md, "Storage".
//!
//! The service keeps one cluster connection (the `redis` crate's async cluster client):
//! one multiplexed socket per node, shared by every request, so the commands of
//! concurrent requests travel pipelined. It follows `MOVED` itself and learns the new
//! topology after a failover. The connection is opened lazily, so a service starts
//! while its cluster is still forming.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt;
use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RetryMethod, Value};

use crate::backoff::Backoff;
use crate::config::RedisConfig;
use crate::error::ApiError;
use crate::metrics::checked;

mod invocation;
pub mod replicas;
pub mod topology;

pub use invocation::Invocation;
use replicas::Replicas;
pub use topology::slot_of;
use topology::Topology;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer in time, refused the connection, or failed the command.
    #[error("{0}")]
    Unavailable(String),
    /// The idempotency key was used before for another request (a 422): nothing done.
    #[error("{0}")]
    KeyReused(String),
    /// Redis answered something our own scripts never write.
    #[error("store holds unexpected data: {0}")]
    Corrupt(String),
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Unavailable(format!("redis command failed: {e}"))
    }
}

/// A store failure as handlers answer it: Redis out of reach is a 503, data our own
/// scripts never write a 500. (Here, not in `error`, so that `error` imports nothing.)
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(msg) => ApiError::Unavailable(msg),
            StoreError::Corrupt(msg) => ApiError::Internal(msg),
            StoreError::KeyReused(msg) => ApiError::Unprocessable(msg),
        }
    }
}

/// The shared connection to one service's Redis Cluster, with timeouts.
#[derive(Clone)]
pub struct RedisStore {
    client: ClusterClient,
    conn: Arc<Link>,
    timeout: Duration,
    wait: Duration,
    idempotency_ttl: Duration,
    replicas: Arc<Replicas>,
    topology: Arc<Topology>,
    metrics: StoreMetrics,
}

/// The connection once opened (the crate's cluster connection reconnects to nodes
/// itself), and the lock that lets one request open it while the others wait.
#[derive(Default)]
struct Link {
    open: RwLock<Option<(Instant, ClusterConnection)>>,
    opening: tokio::sync::Mutex<()>,
}

/// A connection that met a dead or unreachable node is replaced by a fresh one (which
/// learns the slots anew) once it is this old: the crate keeps a slot map that points
/// at a dead master until a node answers MOVED, which a dead node never does, so after
/// a failover a new connection finds the promoted replica sooner.
const RECONNECT_AFTER: Duration = Duration::from_millis(500);

/// `redis_pool_wait_seconds`, `redis_errors_total{kind}`, `redis_retries_total`, and
/// the replication counters of [`replicas`].
#[derive(Clone)]
pub(crate) struct StoreMetrics {
    pool_wait: Histogram,
    errors: IntCounterVec,
    retries: IntCounter,
    pub(crate) unreplicated: IntCounter,
    pub(crate) lagging: IntCounter,
}

impl StoreMetrics {
    fn new() -> Self {
        let metrics = StoreMetrics {
            pool_wait: checked(Histogram::with_opts(
                HistogramOpts::new(
                    "redis_pool_wait_seconds",
                    "Time spent getting the shared Redis Cluster connection (opening it).",
                )
                .buckets(vec![
                    0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0,
                    2.5,
                ]),
            )),
            errors: checked(IntCounterVec::new(
                Opts::new(
                    "redis_errors_total",
                    "Redis failures: kind=pool (no connection within the bound), \
                     timeout (no answer within the bound), command (an error answer \
                     or a broken connection).",
                ),
                &["kind"],
            )),
            retries: checked(IntCounter::new(
                "redis_retries_total",
                "Redis calls sent again after a failure that may pass (connection refused or \
                 lost, timeout, LOADING, failover, a replica not acknowledging yet), within \
                 REDIS_WAIT_MS.",
            )),
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
        };
        for kind in ["pool", "timeout", "command"] {
            metrics.errors.with_label_values(&[kind]);
        }
        metrics
    }

    fn error(&self, kind: &str) {
        self.errors.with_label_values(&[kind]).inc();
    }
}

impl RedisStore {
    /// Creates the store. The connection is opened lazily, so this succeeds while the
    /// cluster is down. `cfg.url` is one node's URL or several, comma-separated.
    pub fn new(cfg: &RedisConfig) -> Result<Self, StoreError> {
        let nodes: Vec<&str> = cfg
            .url
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .collect();
        if nodes.is_empty() {
            return Err(StoreError::Unavailable("REDIS_URL names no node".into()));
        }
        let client = ClusterClientBuilder::new(nodes)
            .connection_timeout(cfg.timeout)
            .response_timeout(cfg.timeout)
            // The crate follows MOVED and reconnects on its own a few times; longer
            // outages are this module's bounded retry loop.
            .retries(3)
            .min_retry_wait(10)
            .max_retry_wait(200)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("invalid REDIS_URL: {e}")))?;
        let metrics = StoreMetrics::new();
        Ok(RedisStore {
            client,
            conn: Arc::new(Link::default()),
            timeout: cfg.timeout,
            wait: cfg.wait,
            idempotency_ttl: cfg.idempotency_ttl,
            replicas: Arc::new(Replicas::new(cfg.replica_wait, cfg.write_linger)),
            topology: Arc::new(Topology::default()),
            metrics,
        })
    }

    /// How long the record of a public write's answer is kept (`IDEMPOTENCY_TTL_SECS`).
    pub fn idempotency_ttl(&self) -> Duration {
        self.idempotency_ttl
    }

    /// The store's metrics, for the service's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.metrics.pool_wait.clone()),
            Box::new(self.metrics.errors.clone()),
            Box::new(self.metrics.retries.clone()),
            Box::new(self.metrics.unreplicated.clone()),
            Box::new(self.metrics.lagging.clone()),
        ]
    }

    /// The shared cluster connection, opened within the bound on first use.
    pub async fn conn(&self) -> Result<ClusterConnection, StoreError> {
        if let Some(conn) = self.open_conn() {
            return Ok(conn);
        }
        let start = Instant::now();
        let _opening = self.conn.opening.lock().await;
        if let Some(conn) = self.open_conn() {
            return Ok(conn);
        }
        let opened = tokio::time::timeout(self.timeout, self.client.get_async_connection()).await;
        self.metrics
            .pool_wait
            .observe(start.elapsed().as_secs_f64());
        let conn = match opened {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                self.metrics.error("pool");
                return Err(StoreError::Unavailable(format!(
                    "redis cluster is unreachable: {e}"
                )));
            }
            Err(_) => {
                self.metrics.error("pool");
                return Err(StoreError::Unavailable(format!(
                    "redis cluster did not answer within {} ms",
                    self.timeout.as_millis()
                )));
            }
        };
        *self.conn.open.write().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), conn.clone()));
        Ok(conn)
    }

    fn open_conn(&self) -> Option<ClusterConnection> {
        self.conn
            .open
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(_, conn)| conn.clone())
    }

    /// Drops the shared connection if it is older than [`RECONNECT_AFTER`]: the next
    /// call opens a new one.
    fn reconnect(&self) {
        let mut open = self.conn.open.write().unwrap_or_else(|e| e.into_inner());
        if open
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() >= RECONNECT_AFTER)
        {
            tracing::debug!("replacing the redis cluster connection after a node failure");
            *open = None;
        }
    }

    /// Answers whether the cluster serves every slot and answers within the bound
    /// (readiness): `CLUSTER INFO` of one node says `cluster_state:ok`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let info: String = self
            .bounded(redis::cmd("CLUSTER").arg("INFO").query_async(&mut conn))
            .await?;
        if info.lines().any(|l| l.trim() == "cluster_state:ok") {
            // Learn which masters have replicas before the first write needs it.
            self.topology.cached_or_refresh(&conn);
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "redis cluster is not serving every slot (cluster_state is not ok)".into(),
            ))
        }
    }

    /// Bounds any Redis future (a command, a pipeline) by the configured timeout.
    pub async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.attempt(fut).await.map_err(Failure::into_error)
    }

    /// One bounded try, its failure sorted into one that another try may mend or not.
    async fn attempt<T>(
        &self,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                self.metrics.error("command");
                let permanent = matches!(e.retry_method(), RetryMethod::NoRetry)
                    && !e.is_io_error()
                    && !e.is_connection_dropped()
                    && !e.is_connection_refusal();
                let node_lost = e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
                    || matches!(
                        e.kind(),
                        redis::ErrorKind::ClusterConnectionNotFound
                            | redis::ErrorKind::Server(redis::ServerErrorKind::ClusterDown)
                    );
                if node_lost {
                    self.reconnect();
                }
                let error = StoreError::from(e);
                Err(if permanent {
                    Failure::Final(error)
                } else {
                    Failure::Transient(error)
                })
            }
            Err(_) => {
                self.reconnect();
                self.metrics.error("timeout");
                Err(Failure::Transient(StoreError::Unavailable(format!(
                    "redis did not answer within {} ms",
                    self.timeout.as_millis()
                ))))
            }
        }
    }

    /// Runs one read, retrying within `REDIS_WAIT_MS` while the cluster is unreachable.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        self.retrying(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
    }

    /// Runs one single-key write (an overwrite, safe to send again), acknowledged once
    /// on a replica too, retrying within `REDIS_WAIT_MS`.
    pub async fn write<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        let slot = cmd
            .args_iter()
            .nth(1)
            .and_then(|arg| match arg {
                redis::Arg::Simple(key) => Some(slot_of(key)),
                _ => None,
            })
            .ok_or_else(|| StoreError::Corrupt("a write names no key".into()))?;
        self.retrying(|conn| async move {
            let value = self.durable_write(conn, slot, cmd.clone()).await?;
            Ok(T::from_redis_value(value)?)
        })
        .await
    }

    /// Runs a Lua script, acknowledged once on a replica too, retrying within
    /// `REDIS_WAIT_MS` while the cluster is unreachable or failing over. Every script of
    /// ours is safe to run again: a public write's records its answer with its
    /// idempotency key, a saga step is keyed by saga.
    pub async fn run_script<T: FromRedisValue>(
        &self,
        invocation: &Invocation<'_>,
    ) -> Result<T, StoreError> {
        self.retrying(|conn| self.script_once(conn, invocation))
            .await
    }

    /// Runs a Lua script once, bounded, acknowledged once on a replica too (the saga's
    /// steps: the saga itself retries them).
    pub async fn invoke<T: FromRedisValue>(
        &self,
        invocation: &Invocation<'_>,
    ) -> Result<T, StoreError> {
        let conn = self.conn().await?;
        self.bounded(self.script_once(conn, invocation)).await
    }

    /// EVALSHA (loading the script on every node on NOSCRIPT) with its replication wait.
    async fn script_once<T: FromRedisValue>(
        &self,
        conn: ClusterConnection,
        invocation: &Invocation<'_>,
    ) -> redis::RedisResult<T> {
        let slot = invocation.slot();
        let value = match self
            .durable_write(conn.clone(), slot, invocation.evalsha())
            .await
        {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                invocation.load(&mut conn.clone()).await?;
                self.durable_write(conn, slot, invocation.evalsha()).await?
            }
            other => other?,
        };
        T::from_redis_value(value).map_err(Into::into)
    }

    /// Loads a script on every node now, so that the first calls of a batch do not all
    /// meet NOSCRIPT and run in whatever order their reloads finish.
    pub async fn load_script(&self, script: &redis::Script) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        self.bounded(async { Invocation::new(script).load(&mut conn).await })
            .await
    }

    /// Writes `(key, command)` pairs (overwrites, safe to send again) spread over the
    /// cluster: pipelines of 2000 with `WAIT 1` after each, two in flight per master,
    /// masters in parallel. A chunk that fails (a moved slot, no answer in time) is sent
    /// again after the topology is learnt again, within `REDIS_WAIT_MS`.
    pub async fn write_spread(&self, writes: Vec<(String, Cmd)>) -> Result<(), StoreError> {
        const CHUNK: usize = 2000;
        const IN_FLIGHT: usize = 2;
        let give_up = tokio::time::Instant::now() + self.wait;
        let mut pending: Vec<(u16, Cmd)> = writes
            .into_iter()
            .map(|(key, cmd)| (slot_of(key.as_bytes()), cmd))
            .collect();
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(500));
        while !pending.is_empty() {
            let conn = match self.conn().await {
                Ok(conn) => conn,
                Err(e) => {
                    self.pause(&mut backoff, give_up, e).await?;
                    continue;
                }
            };
            let map = match self
                .bounded(self.topology.current(conn.clone(), false))
                .await
            {
                Ok(map) => map,
                Err(e) => {
                    self.pause(&mut backoff, give_up, e).await?;
                    continue;
                }
            };
            let mut by_node: Vec<Vec<(u16, Cmd)>> = vec![Vec::new(); map.nodes.len()];
            for (slot, cmd) in pending.drain(..) {
                by_node[map.owner(slot)].push((slot, cmd));
            }
            // Each master gets its chunks two at a time, so that one chunk's time bound
            // covers that chunk's own work, not the queue of chunks sent before it.
            let sends = by_node.into_iter().enumerate().map(|(node, writes)| {
                let (map, conn) = (&map, &conn);
                let chunks: Vec<Vec<(u16, Cmd)>> =
                    writes.chunks(CHUNK).map(<[_]>::to_vec).collect();
                futures::stream::iter(chunks)
                    .map(move |chunk| async move {
                        let mut pipe = Pipeline::with_capacity(chunk.len() + 1);
                        for (_, cmd) in &chunk {
                            pipe.add_command(cmd.clone()).ignore();
                        }
                        let sent = self
                            .bounded(self.durable_pipeline_on(
                                conn.clone(),
                                map.nodes[node].clone(),
                                chunk[0].0,
                                map.replicas[node],
                                pipe,
                            ))
                            .await;
                        sent.map_err(|e| (e, chunk))
                    })
                    .buffer_unordered(IN_FLIGHT)
                    .collect::<Vec<_>>()
            });
            let results = futures::future::join_all(sends).await;
            let mut last = None;
            for result in results.into_iter().flatten() {
                if let Err((e, chunk)) = result {
                    pending.extend(chunk);
                    last = Some(e);
                }
            }
            if let Some(e) = last {
                self.topology.invalidate();
                self.pause(&mut backoff, give_up, e).await?;
            }
        }
        Ok(())
    }

    /// Sleeps before the next try of [`write_spread`](Self::write_spread), or gives up.
    async fn pause(
        &self,
        backoff: &mut Backoff,
        give_up: tokio::time::Instant,
        failure: StoreError,
    ) -> Result<(), StoreError> {
        let Some(pause) = backoff.pause_before(give_up) else {
            return Err(failure);
        };
        self.metrics.retries.inc();
        tracing::debug!(error = %failure, "redis write failed, retrying");
        tokio::time::sleep(pause).await;
        Ok(())
    }

    /// Runs `attempt` on the shared connection until it succeeds, fails in a way that
    /// another try cannot mend (a script error, wrong data), or `REDIS_WAIT_MS` has passed
    /// (then the last failure, a 503). Each attempt is bounded by `REDIS_TIMEOUT_MS`, and
    /// the pauses between them grow from 10 to 500 ms.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut(ClusterConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let give_up = tokio::time::Instant::now() + self.wait;
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(500));
        loop {
            let failure = match self.conn().await {
                Ok(conn) => match self.attempt(attempt(conn)).await {
                    Ok(value) => return Ok(value),
                    Err(Failure::Final(e)) => return Err(e),
                    Err(Failure::Transient(e)) => e,
                },
                Err(e) => e,
            };
            self.pause(&mut backoff, give_up, failure).await?;
        }
    }
}

/// How one try of a Redis call failed.
enum Failure {
    /// Another try cannot mend it: a script's error answer, a wrong type.
    Final(StoreError),
    /// Connection refused or lost, no answer in time, a failover, a lagging replica.
    Transient(StoreError),
}

impl Failure {
    fn into_error(self) -> StoreError {
        match self {
            Failure::Final(e) | Failure::Transient(e) => e,
        }
    }
}

/// Reads one reply value as an integer (`WAIT`'s count).
fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

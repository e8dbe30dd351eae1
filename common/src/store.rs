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
//! - **A restart or a failover is a wait, where the name says so.** The `*_retrying`
//!   calls (reads, public writes) retry what may pass (refused or lost connections,
//!   timeouts, `MOVED`, `CLUSTERDOWN`, `TRYAGAIN`, a replica that has not acknowledged
//!   yet) within `REDIS_WAIT_MS` ([`retry`]); every write of ours is safe to send again
//!   (an idempotency record, or a saga step keyed by saga). The `*_once` calls try once
//!   (the saga's steps: the saga itself retries them).
//! - **A write is acknowledged only once a majority of its shard's copies hold it**
//!   ([`acknowledgement`], [`replicas`]): each write is sent in one round trip with
//!   `WAIT n` after it, `n` its master's `min-replicas-to-write` (1 of its 2 replicas),
//!   and answered only when that many replicas have it. There is no path that
//!   acknowledges on the master alone. See docs/design.md, "Storage".
//!
//! The service keeps one cluster connection ([`connection`]): one multiplexed socket
//! per node, shared by every request, so the commands of concurrent requests travel
//! pipelined. It follows `MOVED` itself and learns the new topology after a failover.
//! The connection is opened lazily, so a service starts while its cluster is still
//! forming. `batch_init`'s bulk writes go through [`spread`].

use std::sync::Arc;
use std::time::Duration;

use prometheus::core::Collector;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Value};

use crate::config::RedisConfig;

mod acknowledgement;
mod connection;
mod error;
mod invocation;
mod metrics;
pub mod replicas;
mod reply;
mod retry;
mod spread;
pub mod topology;

use connection::Connection;
pub use error::StoreError;
pub use invocation::Invocation;
use metrics::StoreMetrics;
use replicas::Replicas;
use topology::Topology;
pub use topology::{slot_of, tag};

/// How long connecting to one node (and its first answer) may take.
const NODE_CONNECT_BOUND: Duration = Duration::from_millis(1000);

/// The shared connection to one service's Redis Cluster, with timeouts.
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    timeout: Duration,
    wait: Duration,
    idempotency_ttl: Duration,
    replicas: Arc<Replicas>,
    topology: Arc<Topology>,
    metrics: StoreMetrics,
}

impl RedisStore {
    /// Creates the store. The connection is opened lazily, so this succeeds while the
    /// cluster is down. `cfg.url` is one node's URL or several, comma-separated.
    pub fn new(cfg: &RedisConfig) -> Result<Self, StoreError> {
        let timeout = cfg.timeout;
        let make = move |seeds: Vec<redis::ConnectionInfo>| {
            ClusterClientBuilder::new(seeds)
                // Opening a cluster connection waits for every seed node: one that accepts
                // but never answers (paused) must cost at most this, not the whole bound.
                .connection_timeout(timeout.min(NODE_CONNECT_BOUND))
                .response_timeout(timeout)
                // The crate follows MOVED and reconnects on its own a few times; longer
                // outages are this module's bounded retry loop.
                .retries(3)
                .min_retry_wait(10)
                .max_retry_wait(200)
                .build()
        };
        let metrics = StoreMetrics::new();
        let connection = Connection::new(&cfg.url, Arc::new(make), cfg.timeout, metrics.clone())?;
        let topology = {
            let (base, connection) = (connection.base(), connection.clone());
            Topology::new(move |masters| connection.failed_over(masters)).asking_nodes(base)
        };
        Ok(RedisStore {
            connection,
            timeout: cfg.timeout,
            wait: cfg.wait,
            idempotency_ttl: cfg.idempotency_ttl,
            replicas: Replicas::new(cfg.timeout, cfg.replica_wait, cfg.write_linger),
            topology: Arc::new(topology),
            metrics,
        })
    }

    /// How long the record of a public write's answer is kept (`IDEMPOTENCY_TTL_SECS`).
    pub fn idempotency_ttl(&self) -> Duration {
        self.idempotency_ttl
    }

    /// The store's metrics, for the service's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        let mut collectors = self.metrics.collectors();
        collectors.extend(self.replicas.collectors());
        collectors
    }

    /// The shared cluster connection, opened within the bound on first use.
    pub async fn conn(&self) -> Result<ClusterConnection, StoreError> {
        self.connection.get().await
    }

    /// Answers whether the cluster serves every slot and answers within the bound
    /// (readiness): `CLUSTER INFO` of one node says `cluster_state:ok`. One try.
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

    /// Runs one read, retrying within `REDIS_WAIT_MS` while the cluster is unreachable.
    pub async fn query_retrying<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        self.retrying(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
    }

    /// Runs one single-key write (an overwrite, safe to send again), acknowledged once
    /// on a replica too, retrying within `REDIS_WAIT_MS`.
    pub async fn write_retrying<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
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
    pub async fn run_script_retrying<T: FromRedisValue>(
        &self,
        invocation: &Invocation<'_>,
    ) -> Result<T, StoreError> {
        self.retrying(|conn| self.script_once(conn, invocation))
            .await
    }

    /// Runs a Lua script once, bounded, acknowledged once on a replica too (the saga's
    /// steps: the saga itself retries them).
    pub async fn run_script_once<T: FromRedisValue>(
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
    /// meet NOSCRIPT and run in whatever order their reloads finish. One try.
    pub async fn load_script(&self, script: &redis::Script) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        self.bounded(async { Invocation::new(script).load(&mut conn).await })
            .await
    }

    /// Sends `cmd` (a write to `slot`) through its master's replica acknowledgement
    /// writer, which answers its reply once it is acknowledged. One try.
    async fn durable_write(
        &self,
        conn: ClusterConnection,
        slot: u16,
        cmd: Cmd,
    ) -> redis::RedisResult<Value> {
        let map = match self.topology.cached_or_refresh(&conn) {
            Some(map) => map,
            None => self.topology.current(conn.clone(), false).await?,
        };
        let node = map.nodes[map.owner(slot)].clone();
        self.replicas.write(conn, node, slot, cmd).await
    }
}

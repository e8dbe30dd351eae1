//! The Redis pool every service uses, with a bound on every wait.
//!
//! Nothing here knows a key: each service's own `store.rs` owns its keys and
//! scripts. What this module guarantees is that no call hangs: getting a
//! connection and running a command are both bounded by `REDIS_TIMEOUT_MS`,
//! and a Redis that is down or slow becomes [`StoreError::Unavailable`] (503).
//!
//! Connections come from deadpool-redis's manager, but are recycled without
//! its PING per checkout (which doubled the round trips of every request): a
//! connection is dropped from the pool once a command on it failed with a
//! connection error, and reused as it is otherwise. Two things keep a restarted
//! Redis from failing one request per stale pooled connection: a connection
//! error also retires every connection opened before it (a generation counter
//! shared by the pool), and a connection idle for longer than [`IDLE_PING`] is
//! PINGed before it is handed out (a busy service never pays for that).
//!
//! The store times every wait for a pooled connection and counts every failure
//! ([`collectors`](RedisStore::collectors) for the service's `/metrics`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, Object, RecycleError, RecycleResult};
use deadpool_redis::{PoolConfig, Runtime, Timeouts};
use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, FromRedisValue, Pipeline, RedisError, RedisFuture, ScriptInvocation, Value};

use crate::config::RedisConfig;
use crate::metrics::checked;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis did not answer in time, refused the connection, or failed the command.
    #[error("{0}")]
    Unavailable(String),
    /// Redis answered something our own scripts never write.
    #[error("store holds unexpected data: {0}")]
    Corrupt(String),
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Unavailable(format!("redis command failed: {e}"))
    }
}

/// A pooled, multiplexed connection to one Redis, with timeouts.
#[derive(Clone)]
pub struct RedisStore {
    pool: Pool,
    timeout: Duration,
    metrics: StoreMetrics,
}

/// `redis_pool_wait_seconds` and `redis_errors_total{kind}`.
#[derive(Clone)]
struct StoreMetrics {
    pool_wait: Histogram,
    errors: IntCounterVec,
}

impl StoreMetrics {
    fn new() -> Self {
        let metrics = StoreMetrics {
            pool_wait: checked(Histogram::with_opts(
                HistogramOpts::new(
                    "redis_pool_wait_seconds",
                    "Time spent getting a Redis connection from the pool \
                     (opening one when the pool has none).",
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

/// Creates connections with deadpool-redis's manager; recycles them for free
/// unless a command on them failed with a connection error.
struct Recycler {
    manager: deadpool_redis::Manager,
    /// Bumped on every connection error: connections of an older generation are retired.
    generation: Arc<AtomicU64>,
}

/// A pooled connection unused for this long is PINGed before reuse.
const IDLE_PING: Duration = Duration::from_secs(1);

/// A pooled connection and whether it saw a connection error.
struct Link {
    conn: MultiplexedConnection,
    broken: bool,
    generation: u64,
    pool_generation: Arc<AtomicU64>,
}

impl managed::Manager for Recycler {
    type Type = Link;
    type Error = RedisError;

    async fn create(&self) -> Result<Link, RedisError> {
        // Read before connecting: an error seen meanwhile retires this connection too.
        let generation = self.generation.load(Ordering::Acquire);
        let conn = managed::Manager::create(&self.manager).await?;
        Ok(Link {
            conn,
            broken: false,
            generation,
            pool_generation: self.generation.clone(),
        })
    }

    async fn recycle(&self, link: &mut Link, metrics: &Metrics) -> RecycleResult<RedisError> {
        if link.broken {
            return Err(RecycleError::message("a command on this connection failed"));
        }
        if link.generation < self.generation.load(Ordering::Acquire) {
            return Err(RecycleError::message(
                "opened before a connection error (Redis may have restarted)",
            ));
        }
        if metrics.last_used() > IDLE_PING {
            redis::cmd("PING")
                .query_async::<()>(&mut link.conn)
                .await
                .map_err(RecycleError::Backend)?;
        }
        Ok(())
    }
}

type Pool = managed::Pool<Recycler>;

/// A connection checked out of the pool; returned when dropped.
pub struct Connection(Object<Recycler>);

impl Connection {
    fn note(&mut self, result: &Result<impl Sized, RedisError>) {
        if let Err(e) = result {
            if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                self.0.broken = true;
                // Every connection opened up to now is likely as dead as this one.
                let next = self.0.generation + 1;
                self.0.pool_generation.fetch_max(next, Ordering::AcqRel);
            }
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.0.conn.req_packed_command(cmd).await;
            self.note(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self.0.conn.req_packed_commands(cmd, offset, count).await;
            self.note(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.0.conn.get_db()
    }
}

impl RedisStore {
    /// Creates the pool. Connections are opened lazily, so this succeeds while Redis is down.
    pub fn new(cfg: &RedisConfig) -> Result<Self, StoreError> {
        let manager = deadpool_redis::Manager::new(cfg.url.as_str())
            .map_err(|e| StoreError::Unavailable(format!("invalid REDIS_URL: {e}")))?;
        let recycler = Recycler {
            manager,
            generation: Arc::new(AtomicU64::new(0)),
        };
        let pool = Pool::builder(recycler)
            .config(PoolConfig {
                max_size: cfg.pool_size,
                timeouts: Timeouts {
                    wait: Some(cfg.timeout),
                    create: Some(cfg.timeout),
                    recycle: Some(cfg.timeout),
                },
                ..PoolConfig::default()
            })
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot create redis pool: {e}")))?;
        Ok(RedisStore {
            pool,
            timeout: cfg.timeout,
            metrics: StoreMetrics::new(),
        })
    }

    /// The store's metrics, for the service's registry.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.metrics.pool_wait.clone()),
            Box::new(self.metrics.errors.clone()),
        ]
    }

    /// Checks a connection out of the pool within the configured bound.
    pub async fn conn(&self) -> Result<Connection, StoreError> {
        let start = Instant::now();
        let conn = self.pool.get().await;
        self.metrics
            .pool_wait
            .observe(start.elapsed().as_secs_f64());
        conn.map(Connection).map_err(|e| {
            self.metrics.error("pool");
            StoreError::Unavailable(format!("redis is unreachable: {e}"))
        })
    }

    /// Runs one Lua script (EVALSHA, loading it on NOSCRIPT) within the bound.
    pub async fn invoke<T: FromRedisValue>(
        &self,
        conn: &mut Connection,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.bounded(invocation.invoke_async(conn)).await
    }

    /// Answers whether Redis replies to PING within the bound (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let pong: String = self
            .bounded(redis::cmd("PING").query_async(&mut conn))
            .await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(StoreError::Corrupt(format!("PING answered {pong:?}")))
        }
    }

    /// Bounds any Redis future (a command, a pipeline) by the configured timeout.
    pub async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                self.metrics.error("command");
                Err(StoreError::from(e))
            }
            Err(_) => {
                self.metrics.error("timeout");
                Err(StoreError::Unavailable(format!(
                    "redis did not answer within {} ms",
                    self.timeout.as_millis()
                )))
            }
        }
    }
}

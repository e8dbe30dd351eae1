//! The Redis connection every service uses, with a bound on every wait.
//!
//! Nothing here knows a key: each service's own `store.rs` owns its keys and
//! scripts. What this module guarantees is that no call hangs: getting the
//! connection and running a command are both bounded by `REDIS_TIMEOUT_MS`,
//! and a Redis that is down or slow becomes [`StoreError::Unavailable`] (503).
//!
//! A service process keeps one [`MultiplexedConnection`] to its Redis and every
//! request shares it: the commands of concurrent requests travel pipelined on
//! one socket, so Redis reads, runs and fsyncs a batch of them per event-loop
//! turn, and neither side pays a read and a write system call per command
//! (what that gained against a pool of connections is in `stress-test/README.md`).
//!
//! The connection lives in a deadpool pool of size one, which opens it lazily
//! (within the bound), hands out a clone and gets it back at once, and replaces
//! it when it is stale. Two things keep a restarted Redis from failing requests
//! on the old connection: a connection error retires the connection it happened
//! on (a generation counter), and a connection idle for longer than
//! [`IDLE_PING`] is PINGed before it is handed out again (a busy service never
//! pays for that).
//!
//! The store times every wait for the connection and counts every failure
//! ([`collectors`](RedisStore::collectors) for the service's `/metrics`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use deadpool_redis::{PoolConfig, Runtime, Timeouts};
use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    Cmd, FromRedisValue, Pipeline, RedisError, RedisFuture, RetryMethod, ScriptInvocation, Value,
};

use crate::backoff::Backoff;
use crate::config::RedisConfig;
use crate::error::ApiError;
use crate::metrics::checked;

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

/// The shared, multiplexed connection to one Redis, with timeouts.
#[derive(Clone)]
pub struct RedisStore {
    pool: Pool,
    timeout: Duration,
    wait: Duration,
    idempotency_ttl: Duration,
    metrics: StoreMetrics,
}

/// `redis_pool_wait_seconds` and `redis_errors_total{kind}`.
#[derive(Clone)]
struct StoreMetrics {
    pool_wait: Histogram,
    errors: IntCounterVec,
    retries: IntCounter,
}

impl StoreMetrics {
    fn new() -> Self {
        let metrics = StoreMetrics {
            pool_wait: checked(Histogram::with_opts(
                HistogramOpts::new(
                    "redis_pool_wait_seconds",
                    "Time spent getting the shared Redis connection \
                     (opening it, or PINGing it after it idled).",
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
                 lost, timeout, LOADING, failover), within REDIS_WAIT_MS.",
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

/// Opens the connection with deadpool-redis's manager; hands it out again for
/// free unless a connection error was seen since it was opened.
struct Recycler {
    manager: deadpool_redis::Manager,
    /// Bumped on every connection error: a connection of an older generation is retired.
    generation: Arc<AtomicU64>,
}

/// A connection unused for this long is PINGed before it is handed out again.
const IDLE_PING: Duration = Duration::from_secs(1);

/// The shared connection and the generation it was opened in.
struct Link {
    conn: MultiplexedConnection,
    generation: u64,
}

impl managed::Manager for Recycler {
    type Type = Link;
    type Error = RedisError;

    async fn create(&self) -> Result<Link, RedisError> {
        // Read before connecting: an error seen meanwhile retires this connection too.
        let generation = self.generation.load(Ordering::Acquire);
        let conn = managed::Manager::create(&self.manager).await?;
        Ok(Link { conn, generation })
    }

    async fn recycle(&self, link: &mut Link, metrics: &Metrics) -> RecycleResult<RedisError> {
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

/// A handle on the shared connection, for one request.
pub struct Connection {
    conn: MultiplexedConnection,
    generation: u64,
    pool_generation: Arc<AtomicU64>,
}

impl Connection {
    fn note(&self, result: &Result<impl Sized, RedisError>) {
        if let Err(e) = result {
            if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                // This connection, and every one opened up to now, is likely dead.
                self.pool_generation
                    .fetch_max(self.generation + 1, Ordering::AcqRel);
            }
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.conn.req_packed_command(cmd).await;
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
            let result = self.conn.req_packed_commands(cmd, offset, count).await;
            self.note(&result);
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

impl RedisStore {
    /// Creates the store. The connection is opened lazily, so this succeeds while Redis is down.
    pub fn new(cfg: &RedisConfig) -> Result<Self, StoreError> {
        let manager = deadpool_redis::Manager::new(cfg.url.as_str())
            .map_err(|e| StoreError::Unavailable(format!("invalid REDIS_URL: {e}")))?;
        let recycler = Recycler {
            manager,
            generation: Arc::new(AtomicU64::new(0)),
        };
        let pool = Pool::builder(recycler)
            .config(PoolConfig {
                // One connection, shared: see the module documentation.
                max_size: 1,
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
            wait: cfg.wait,
            idempotency_ttl: cfg.idempotency_ttl,
            metrics: StoreMetrics::new(),
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
        ]
    }

    /// A handle on the shared connection (opened, or PINGed after idling,
    /// within the configured bound). The pool has the connection back before
    /// this returns: concurrent requests use it at the same time.
    pub async fn conn(&self) -> Result<Connection, StoreError> {
        let start = Instant::now();
        let link = self.pool.get().await;
        self.metrics
            .pool_wait
            .observe(start.elapsed().as_secs_f64());
        let link = link.map_err(|e| {
            self.metrics.error("pool");
            StoreError::Unavailable(format!("redis is unreachable: {e}"))
        })?;
        Ok(Connection {
            conn: link.conn.clone(),
            generation: link.generation,
            pool_generation: self.pool.manager().generation.clone(),
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
                let permanent = matches!(e.retry_method(), RetryMethod::NoRetry);
                let error = StoreError::from(e);
                Err(if permanent {
                    Failure::Final(error)
                } else {
                    Failure::Transient(error)
                })
            }
            Err(_) => {
                self.metrics.error("timeout");
                Err(Failure::Transient(StoreError::Unavailable(format!(
                    "redis did not answer within {} ms",
                    self.timeout.as_millis()
                ))))
            }
        }
    }

    /// Runs one command, retrying within `REDIS_WAIT_MS` while Redis is unreachable.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        self.retrying(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
    }

    /// Runs a pipeline, retrying within `REDIS_WAIT_MS` while Redis is unreachable. Only
    /// for pipelines that may be applied twice (overwrites) or that a record makes idempotent.
    pub async fn query_pipeline<T: FromRedisValue>(
        &self,
        pipe: &Pipeline,
    ) -> Result<T, StoreError> {
        self.retrying(|mut conn| async move { pipe.query_async(&mut conn).await })
            .await
    }

    /// Runs a Lua script (EVALSHA, loading it on NOSCRIPT), retrying within `REDIS_WAIT_MS`
    /// while Redis is unreachable. Every script of ours is safe to run again: a public
    /// write's records its answer with its idempotency key, a saga step is keyed by saga.
    pub async fn run_script<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        self.retrying(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await
    }

    /// Runs `attempt` on the shared connection until it succeeds, fails in a way that
    /// another try cannot mend (a script error, wrong data), or `REDIS_WAIT_MS` has passed
    /// (then the last failure, a 503). Each attempt is bounded by `REDIS_TIMEOUT_MS`, and
    /// the pauses between them grow from 10 to 500 ms.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut(Connection) -> Fut,
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
            let Some(pause) = backoff.pause_before(give_up) else {
                return Err(failure);
            };
            self.metrics.retries.inc();
            tracing::debug!(error = %failure, "redis call failed, retrying");
            tokio::time::sleep(pause).await;
        }
    }
}

/// How one try of a Redis call failed.
enum Failure {
    /// Another try cannot mend it: a script's error answer, a wrong type.
    Final(StoreError),
    /// Connection refused or lost, no answer in time, Redis loading or failing over.
    Transient(StoreError),
}

impl Failure {
    fn into_error(self) -> StoreError {
        match self {
            Failure::Final(e) | Failure::Transient(e) => e,
        }
    }
}

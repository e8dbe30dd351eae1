//! Which failures another try may mend, and the bounded retry loop: every attempt is
//! bounded by `REDIS_TIMEOUT_MS`, and the calls that retry do so within
//! `REDIS_WAIT_MS`, with pauses growing from 10 to 500 ms.
//!
//! Only the store's `*_retrying` calls and [`RedisStore::write_spread`] loop here; a
//! `*_once` call makes one bounded attempt and leaves retrying to its caller (the saga).

use std::future::Future;
use std::time::Duration;

use redis::cluster_async::ClusterConnection;
use redis::{RedisError, RetryMethod};

use super::metrics::ErrorKind;
use super::topology::Topology;
use super::{RedisStore, StoreError};
use crate::backoff::Backoff;

/// How one try of a Redis call failed.
pub(super) enum Failure {
    /// Another try cannot mend it: a script's error answer, a wrong type.
    Final(StoreError),
    /// Connection refused or lost, no answer in time, a failover, a lagging or missing
    /// replica.
    Transient(StoreError),
}

impl Failure {
    fn into_error(self) -> StoreError {
        match self {
            Failure::Final(e) | Failure::Transient(e) => e,
        }
    }
}

/// Whether another try cannot mend `e` (the command itself was refused).
fn is_permanent(e: &RedisError) -> bool {
    matches!(e.retry_method(), RetryMethod::NoRetry)
        && !e.is_io_error()
        && !e.is_connection_dropped()
        && !e.is_connection_refusal()
        && !lacks_replicas(e)
}

/// Whether `e` is a master refusing a write because fewer replicas than its
/// `min-replicas-to-write` are online (`NOREPLICAS`, also when a script's write met it):
/// a failover or a replica coming back mends it.
fn lacks_replicas(e: &RedisError) -> bool {
    e.code() == Some("NOREPLICAS") || e.to_string().contains("NOREPLICAS")
}

/// Whether `e` says a node is gone or the cluster lost a slot: the connection's slot
/// map may point at a dead master.
fn is_node_lost(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            redis::ErrorKind::ClusterConnectionNotFound
                | redis::ErrorKind::Server(redis::ServerErrorKind::ClusterDown)
        )
}

/// A retry loop's pauses and when it gives up.
pub(super) struct Patience {
    backoff: Backoff,
    give_up: tokio::time::Instant,
}

impl Patience {
    pub(super) fn new(wait: Duration) -> Self {
        Patience {
            backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(500)),
            give_up: tokio::time::Instant::now() + wait,
        }
    }
}

impl RedisStore {
    /// Bounds any Redis future (a command, a pipeline) by the configured timeout; one
    /// try, never repeated.
    pub async fn bounded<T>(
        &self,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.attempt(fut).await.map_err(Failure::into_error)
    }

    /// One bounded try, its failure sorted into one that another try may mend or not.
    /// A try still waiting when the connection is replaced (a failover was seen) ends at
    /// once, as one that another try may mend: the new connection knows the new master.
    pub(super) async fn attempt<T>(
        &self,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Failure> {
        let generation = self.connection.generation();
        let answered = tokio::select! {
            answered = tokio::time::timeout(self.timeout, fut) => answered,
            never = self.watch_masters() => match never {},
            () = self.connection.replaced(generation) => {
                self.metrics.error(ErrorKind::Replaced);
                return Err(Failure::Transient(StoreError::Unavailable(
                    "the redis cluster connection was replaced (a failover) while waiting".into(),
                )));
            }
        };
        match answered {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                self.metrics.error(ErrorKind::Command);
                if is_node_lost(&e) {
                    self.connection.reconnect();
                }
                let permanent = is_permanent(&e);
                let error = StoreError::from(e);
                Err(if permanent {
                    Failure::Final(error)
                } else {
                    Failure::Transient(error)
                })
            }
            Err(_) => {
                self.connection.reconnect();
                self.metrics.error(ErrorKind::Timeout);
                Err(Failure::Transient(StoreError::Unavailable(format!(
                    "redis did not answer within {} ms",
                    self.timeout.as_millis()
                ))))
            }
        }
    }

    /// While a try waits, asks the cluster for its masters every [`Topology::FRESH`]
    /// (learning the map is shared: one question at a time), so that a failover of the
    /// master it waits for is seen even when no other call comes to ask. Never ends.
    async fn watch_masters(&self) -> std::convert::Infallible {
        loop {
            tokio::time::sleep(Topology::FRESH).await;
            if let Some(conn) = self.connection.open() {
                self.topology.cached_or_refresh(&conn);
            }
        }
    }

    /// Runs `attempt` on the shared connection until it succeeds, fails in a way that
    /// another try cannot mend (a script error, wrong data), or `REDIS_WAIT_MS` has passed
    /// (then the last failure, a 503).
    pub(super) async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, StoreError>
    where
        F: FnMut(ClusterConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let mut patience = Patience::new(self.wait);
        loop {
            let failure = match self.conn().await {
                Ok(conn) => match self.attempt(attempt(conn)).await {
                    Ok(value) => return Ok(value),
                    Err(Failure::Final(e)) => return Err(e),
                    Err(Failure::Transient(e)) => e,
                },
                Err(e) => e,
            };
            self.pause(&mut patience, failure).await?;
        }
    }

    /// Sleeps before the next try, or gives up with `failure`.
    pub(super) async fn pause(
        &self,
        patience: &mut Patience,
        failure: StoreError,
    ) -> Result<(), StoreError> {
        let Some(pause) = patience.backoff.pause_before(patience.give_up) else {
            return Err(failure);
        };
        self.metrics.retry();
        tracing::debug!(error = %failure, "redis write failed, retrying");
        tokio::time::sleep(pause).await;
        Ok(())
    }
}

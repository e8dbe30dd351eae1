//! Typed configuration, read from the environment once at start-up.
//!
//! Every variable has a default that works for the local stack, except where a
//! service cannot run without a value (a peer's URL). Parsing fails loudly with
//! the variable's name: a typo in a deployment must not become a silent default.

use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
    #[error("environment variable {0} must be set")]
    Missing(String),
}

/// How a service reaches its own Redis.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `REDIS_URL`: the service's Redis Cluster, one or more of its nodes (the client
    /// learns the rest), comma-separated, e.g. `redis://:pw@10.0.0.1:6379,redis://:pw@10.0.0.2:6379`.
    pub url: String,
    /// `REDIS_TIMEOUT_MS`: bound on opening the connection and on every command.
    pub timeout: Duration,
    /// `REDIS_WAIT_MS`: how long a request keeps retrying while its Redis is unreachable
    /// (restarting, failing over) before it answers 503.
    pub wait: Duration,
    /// `IDEMPOTENCY_TTL_SECS`: how long the record of a public write's answer is kept,
    /// so that a repeat with the same idempotency key is answered from it.
    pub idempotency_ttl: Duration,
    /// `REDIS_REPLICA_WAIT_MS`: how long a write waits for a replica to acknowledge it
    /// (`WAIT`) before its master is asked whether it has a replica online at all.
    pub replica_wait: Duration,
    /// `REDIS_WRITE_LINGER_MS`: while a master's writes come several to a pipeline, how
    /// long its writer waits for more before it sends the next (0: never waits).
    pub write_linger: Duration,
}

/// The configuration every service reads.
#[derive(Debug, Clone)]
pub struct Config {
    /// `LISTEN_ADDR`: the public API (routed by the gateway).
    pub listen_addr: String,
    /// `INTERNAL_LISTEN_ADDR`: saga endpoints for the orchestrator; never routed by the gateway.
    pub internal_listen_addr: String,
    /// `WORKERS`: actix worker threads (default: the number of CPUs).
    pub workers: usize,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long in-flight requests may finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
    pub redis: RedisConfig,
}

impl Config {
    /// Reads the shared variables; `default_port` picks the service's local default ports
    /// (`default_port` public, `default_port + 1` internal).
    pub fn from_env(default_port: u16) -> Result<Self, ConfigError> {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Config {
            listen_addr: var_or("LISTEN_ADDR", format!("127.0.0.1:{default_port}"))?,
            internal_listen_addr: var_or(
                "INTERNAL_LISTEN_ADDR",
                format!("127.0.0.1:{}", default_port + 1),
            )?,
            workers: var_or("WORKERS", cpus)?,
            shutdown_timeout_secs: var_or("SHUTDOWN_TIMEOUT_SECS", 30)?,
            redis: RedisConfig {
                url: var_or("REDIS_URL", "redis://127.0.0.1:6379".to_string())?,
                timeout: Duration::from_millis(var_or("REDIS_TIMEOUT_MS", 2000)?),
                wait: Duration::from_millis(var_or("REDIS_WAIT_MS", 10_000)?),
                idempotency_ttl: Duration::from_secs(var_or("IDEMPOTENCY_TTL_SECS", 6 * 3600)?),
                replica_wait: Duration::from_millis(var_or("REDIS_REPLICA_WAIT_MS", 250)?),
                write_linger: Duration::from_millis(var_or("REDIS_WRITE_LINGER_MS", 1)?),
            },
        })
    }
}

/// Reads `name`, parsing it as `T`, or returns `default` when it is unset or empty.
pub fn var_or<T>(name: &str, default: T) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => parse(name, &value),
        _ => Ok(default),
    }
}

/// Reads `name`, which must be set.
pub fn var_required<T>(name: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => parse(name, &value),
        _ => Err(ConfigError::Missing(name.to_string())),
    }
}

fn parse<T>(name: &str, value: &str) -> Result<T, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e: T::Err| ConfigError::Invalid {
            name: name.to_string(),
            value: value.to_string(),
            reason: e.to_string(),
        })
}

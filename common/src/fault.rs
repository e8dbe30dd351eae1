//! Fault injection for the crash tests: `CRASH_AFTER_WRITES=N` makes a service
//! process abort right after its N-th applied public write, before it answers,
//! which is the moment a killed process leaves its caller not knowing whether the
//! write happened. The gateway then retries the request on another replica with
//! the same idempotency key, and the test reads back that it was applied once.
//!
//! Unset (the default) it costs one relaxed atomic load per write. This module
//! never decides anything else: it only counts writes and stops the process.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::{var_or, ConfigError};

/// The variable that arms the fault.
pub const VAR: &str = "CRASH_AFTER_WRITES";

/// After how many applied writes the process aborts (0: never).
static CRASH_AFTER: AtomicU64 = AtomicU64::new(0);
static APPLIED: AtomicU64 = AtomicU64::new(0);

/// Reads [`VAR`] once at start-up (binaries only: an in-process test would abort).
pub fn arm_from_env() -> Result<(), ConfigError> {
    let after: u64 = var_or("CRASH_AFTER_WRITES", 0)?;
    if after > 0 {
        tracing::warn!(
            after,
            "{VAR} is set: this process aborts after that many writes"
        );
    }
    CRASH_AFTER.store(after, Ordering::Relaxed);
    Ok(())
}

/// Called once a public write took effect and before it is answered; a repeat that
/// was answered from its record is not a write.
pub fn write_applied(write: &str) {
    let after = CRASH_AFTER.load(Ordering::Relaxed);
    if after == 0 {
        return;
    }
    if APPLIED.fetch_add(1, Ordering::Relaxed) + 1 == after {
        tracing::error!(
            write,
            "{VAR}: aborting after the write, before answering it"
        );
        std::process::abort();
    }
}

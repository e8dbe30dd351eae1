//! The chaos report's hands on the stack. Every kill, start and role lookup goes through
//! the fault driver (`crate::fault`) and the cluster rules (`crate::cluster`); this only
//! bounds each call and records it, with its outcome and duration, in `stack.log`, where
//! what the stack's own script says while it starts a component goes too.
//! It must never do a fault itself.

use crate::cluster::{self, rules};
use crate::fault::{self, Action, Target};
use crate::stack::Stack;
use anyhow::{anyhow, bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Faults {
    stack: Stack,
    log: Mutex<File>,
    _stderr: StderrTo,
    /// Bound on one call.
    bound: Duration,
    t0: Instant,
}

impl Faults {
    /// `log` is made anew; times in it are seconds since `t0`.
    pub fn new(stack: Stack, log: &Path, bound: Duration, t0: Instant) -> Result<Faults> {
        File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let file = OpenOptions::new()
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        Ok(Faults {
            stack,
            _stderr: StderrTo::file(&file)?,
            log: Mutex::new(file),
            bound,
            t0,
        })
    }

    /// `ops cluster status` and the components a fault may hit; fails when a cluster is not
    /// whole.
    pub async fn status(&self) -> Result<String> {
        self.call("cluster status".into(), async {
            let (mut lines, whole) = cluster::status_lines(&self.stack).await?;
            let components = fault::components(&self.stack).await?;
            lines.insert(0, format!("{:<16} {}", "components", components.join(" ")));
            let text = lines.join("\n");
            if !whole {
                bail!("a cluster is not whole:\n{text}");
            }
            Ok(text)
        })
        .await
    }

    /// The component `target` names now.
    pub async fn resolve(&self, target: &Target) -> Result<String> {
        if let Target::Component(name) = target {
            return Ok(name.clone());
        }
        let what = format!("resolve {target}");
        self.call(what, async {
            Ok(fault::resolve(&self.stack, target).await?.name)
        })
        .await
    }

    /// Whether the stack runs a Redis Cluster per service (a master of order's answers).
    pub async fn has_cluster(&self) -> bool {
        let order_master = Target::Role {
            service: "order",
            role: rules::Role::Master,
        };
        self.resolve(&order_master).await.is_ok()
    }

    /// The shape each service's cluster must have.
    pub async fn topology(&self) -> Result<rules::Topology> {
        Ok(self.stack.cluster("order").await?.topology)
    }

    /// SIGKILLs the component; returns once it is gone.
    pub async fn kill(&self, name: &str) -> Result<()> {
        self.act(Action::Kill, name).await
    }

    /// Starts the component; returns once it is healthy (a Redis node: its cluster whole).
    pub async fn start(&self, name: &str) -> Result<()> {
        self.act(Action::Start, name).await
    }

    async fn act(&self, action: Action, name: &str) -> Result<()> {
        let what = format!("fault {action} {name}");
        self.call(what, async {
            Ok(fault::act(&self.stack, action, name).await?)
        })
        .await
    }

    /// Runs one call within the bound and logs it.
    async fn call<T>(&self, what: String, call: impl Future<Output = Result<T>>) -> Result<T> {
        let start = Instant::now();
        self.write(format_args!("$ ops {what}"));
        let result = match tokio::time::timeout(self.bound, call).await {
            Ok(result) => result,
            Err(_) => Err(anyhow!("no answer within {:?}", self.bound)),
        };
        let took = start.elapsed().as_secs_f64();
        match &result {
            Ok(_) => self.write(format_args!("  ok ({took:.2} s)")),
            Err(e) => self.write(format_args!("  failed after {took:.2} s: {e:#}")),
        }
        result.with_context(|| format!("ops {what}"))
    }

    fn write(&self, line: std::fmt::Arguments) {
        let stamp = self.t0.elapsed().as_secs_f64();
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        // The log is a record for people; a full disk must not stop a restore.
        let _ = writeln!(log, "[{stamp:7.2}s] {line}");
    }
}

/// While it lives, this process's standard error goes to a file: `stack.sh start`, which
/// the local fault driver runs, inherits it, so its messages land in the log in the order
/// they came. Dropped, standard error is what it was.
struct StderrTo {
    saved: OwnedFd,
}

impl StderrTo {
    fn file(file: &File) -> Result<StderrTo> {
        // SAFETY: dup(2) of our own standard error; the new descriptor is owned here.
        let saved = unsafe { libc::dup(libc::STDERR_FILENO) };
        if saved < 0 {
            return Err(std::io::Error::last_os_error()).context("saving standard error");
        }
        // SAFETY: `saved` is a fresh descriptor nobody else owns.
        let saved = unsafe { OwnedFd::from_raw_fd(saved) };
        // SAFETY: dup2(2) onto standard error of a descriptor that is open (`file` lives).
        if unsafe { libc::dup2(file.as_raw_fd(), libc::STDERR_FILENO) } < 0 {
            return Err(std::io::Error::last_os_error())
                .context("sending standard error to the log");
        }
        Ok(StderrTo { saved })
    }
}

impl Drop for StderrTo {
    fn drop(&mut self) {
        // SAFETY: dup2(2) of the saved descriptor, open until `self` is gone, back onto
        // standard error. Nothing to do if it fails: the process is ending its report.
        unsafe {
            libc::dup2(self.saved.as_raw_fd(), libc::STDERR_FILENO);
        }
    }
}

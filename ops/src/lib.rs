//! Operations of the stack, written once: what a whole Redis Cluster is, which node holds
//! a key, and how a fault (a kill, a pause, a partition) is done to a component of the local
//! stack or of a docker compose project. The shell scripts, the tests and CI call the `ops`
//! binary or this library instead of carrying their own copies.
//!
//! - [`cluster::rules`]: the cluster rules, pure functions over what the nodes answer;
//! - [`cluster`]: asking the nodes, creating and waiting for clusters (`ops cluster`);
//! - [`fault`]: faults as data and the two back ends that do them (`ops fault`);
//! - [`stack`]: which stack, and how its components and nodes are reached;
//! - [`probe`]: tests of a running stack (`ops probe`), built on the above.
//! - [`chaos_report`]: the availability report (`ops chaos-report`), which breaks the
//!   stack through [`fault`] while it measures the load.
//! - [`bench`]: the closed-loop checkout benchmark of the local stack (`ops bench`).
//!
//! It never signals a process it did not find in the stack's own pid files, and never
//! touches a container outside the compose project it was given.

pub mod bench;
pub mod chaos_report;
pub mod cluster;
pub mod error;
pub mod fault;
pub mod probe;
pub mod stack;

pub use error::{Error, Result};

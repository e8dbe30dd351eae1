//! Operations of the stack, written once: what a whole Redis Cluster is, which node holds
//! a key, and how a fault (a kill, a pause, a partition) is done to a component of the local
//! stack or of a docker compose project. The shell scripts, the tests and CI call the `ops`
//! binary or this library instead of carrying their own copies.
//!
//! It never signals a process it did not find in the stack's own pid files, and never
//! touches a container outside the compose project it was given.

//! The saga's unit tests, and the in-memory fakes they run on: the machine's rules
//! exhaustively ([`machine`]), and the real runner loop through faults, crashes and
//! takeovers on tokio's paused clock ([`runner`], over [`fakes`]).
//!
//! Test code only: nothing here is compiled into the service.

mod fakes;
mod machine;
mod runner;

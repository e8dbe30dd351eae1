//! Order's API tests, in one binary: the whole system started in-process (real
//! redis-servers, stock, payment and order on port 0) by [`helpers`], driven through
//! real HTTP. (`tests/trace_export.rs` is a binary of its own: it runs each service
//! in a process of its own.)

mod checkout;
mod helpers;
mod metrics;
mod openapi;
mod orders;
mod peers;
mod recovery;
mod zero_cost;

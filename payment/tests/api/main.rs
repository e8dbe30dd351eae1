//! Integration tests: the real service on port 0 against a real redis-server.

mod helpers;
mod saga;
mod users;

//! The public API's shape that the services share: the route table and the
//! reply bodies more than one service sends.
//!
//! A service registers its public routes through [`RouteTable`] only. The same
//! function then either mounts them on actix (`web::ServiceConfig`) or lists
//! them ([`RouteList`]), so the API contract test compares the OpenAPI document
//! with the routes that are really served, not with a second hand-written list.
//! Nothing here may know a service's routes or handlers.

use actix_web::http::Method;
use actix_web::{web, FromRequest, Handler, Responder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a service's public routes go: an actix app, or a list for the contract test.
pub trait RouteTable {
    /// Routes `method path` to `handler`.
    fn add<F, Args>(&mut self, method: Method, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static;

    fn get<F, Args>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::GET, path, handler)
    }

    fn post<F, Args>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::POST, path, handler)
    }

    fn delete<F, Args>(&mut self, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.add(Method::DELETE, path, handler)
    }
}

impl RouteTable for web::ServiceConfig {
    fn add<F, Args>(&mut self, method: Method, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.route(path, web::method(method).to(handler))
    }
}

/// The routes a table registers, as `(method, path)` in registration order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RouteList(pub Vec<(Method, String)>);

impl RouteTable for RouteList {
    fn add<F, Args>(&mut self, method: Method, path: &str, _handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.0.push((method, path.to_string()));
        self
    }
}

impl RouteList {
    /// The routes that `configure` registers.
    pub fn of(configure: impl FnOnce(&mut RouteList)) -> Self {
        let mut list = RouteList::default();
        configure(&mut list);
        list
    }
}

/// The answer of every `batch_init`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchInitReply {
    /// What was created, in words.
    #[schema(example = "created users \"0\"..\"9\" with credit 100")]
    pub msg: String,
}

/// The answer of an update that has nothing else to tell.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Done {
    /// Always `true`.
    pub done: bool,
}

//! The public API's shape that the services share: the route table and the
//! reply bodies more than one service sends.
//!
//! A service registers its public routes through [`RouteTable`] only. The same
//! function then either mounts them on actix (`web::ServiceConfig`) or lists
//! them ([`RouteList`]), so the API contract test compares the OpenAPI document
//! with the routes that are really served, not with a second hand-written list.
//! Nothing here may know a service's routes or handlers.
//!
//! Each path has one method: a request for that path with another method is a
//! 405 naming the method to use (and an `Allow` header), not a 404.

use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, Handler, HttpRequest, HttpResponse, Responder};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ErrorBody;

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
    /// One resource per path: its route answers `method`, anything else is a 405.
    /// (A second `add` of the same path would never be reached: paths are unique.)
    fn add<F, Args>(&mut self, method: Method, path: &str, handler: F) -> &mut Self
    where
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        let allowed = method.clone();
        self.service(
            web::resource(path)
                .route(web::method(method).to(handler))
                .default_service(web::to(move |req: HttpRequest| {
                    method_not_allowed(req, allowed.clone())
                })),
        )
    }
}

async fn method_not_allowed(req: HttpRequest, allowed: Method) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allowed.as_str()))
        .json(ErrorBody {
            error: format!(
                "method {} is not allowed for {}: use {allowed}",
                req.method(),
                req.path()
            ),
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{test as web_test, App};

    fn table(cfg: &mut impl RouteTable) {
        cfg.get("/find/{id}", || async { HttpResponse::Ok().finish() })
            .post("/add/{id}", || async { HttpResponse::Ok().finish() });
    }

    #[actix_web::test]
    async fn another_method_on_a_known_path_is_a_405_naming_the_one_to_use() {
        let app = web_test::init_service(App::new().configure(table)).await;
        let req = web_test::TestRequest::post().uri("/find/1").to_request();
        let resp = web_test::call_service(&app, req).await;
        assert_eq!(resp.status(), 405);
        assert_eq!(resp.headers().get(header::ALLOW).unwrap(), "GET");
        let body: ErrorBody = web_test::read_body_json(resp).await;
        assert_eq!(
            body.error,
            "method POST is not allowed for /find/1: use GET"
        );

        let req = web_test::TestRequest::get().uri("/find/1").to_request();
        assert_eq!(web_test::call_service(&app, req).await.status(), 200);
        let req = web_test::TestRequest::post().uri("/add/1").to_request();
        assert_eq!(web_test::call_service(&app, req).await.status(), 200);
    }

    #[test]
    fn a_route_list_holds_what_the_table_registers_in_order() {
        let list = RouteList::of(table);
        assert_eq!(
            list.0,
            vec![
                (Method::GET, "/find/{id}".to_string()),
                (Method::POST, "/add/{id}".to_string())
            ]
        );
    }
}

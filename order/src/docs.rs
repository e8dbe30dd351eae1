//! The OpenAPI document of the whole public API as the gateway serves it, and
//! the Swagger UI page that shows it.
//!
//! The document is put together from each service's `PublicApi` (built by
//! utoipa from the annotations on the handlers) and the shared health
//! endpoints, each under the prefix the gateway routes to that service. The
//! order service serves it at `/docs/openapi.json` and the page at `/docs/`
//! (the gateway routes `/docs/` here unchanged); the page's assets are compiled
//! into the binary, nothing is fetched from elsewhere. This module never
//! describes a route by hand: a route belongs in a handler's annotation.

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa::OpenApi as _;
use utoipa_swagger_ui::SwaggerUi;

/// Where the Swagger UI page is served (on the order service and the gateway).
pub const PAGE_PATH: &str = "/docs/";
/// Where the document itself is served.
pub const DOCUMENT_PATH: &str = "/docs/openapi.json";

/// Each service's name, the path prefix the gateway routes to it, what it
/// does, and its public API without the prefix (health endpoints included).
pub fn services() -> Vec<(&'static str, &'static str, &'static str, OpenApi)> {
    let with_health = |api: OpenApi| api.merge_from(common::http::HealthApi::openapi());
    vec![
        (
            "stock",
            "/stock",
            "Items with a price and a stock that never goes below 0.",
            with_health(stock::routes::PublicApi::openapi()),
        ),
        (
            "payment",
            "/payment",
            "Users with a credit that never goes below 0.",
            with_health(payment::routes::PublicApi::openapi()),
        ),
        (
            "orders",
            "/orders",
            "Orders, and their checkout: a saga that takes the stock and charges the user, \
             all or nothing.",
            with_health(crate::routes::PublicApi::openapi()),
        ),
    ]
}

/// The document of the public API as served through the gateway.
pub fn gateway_api() -> OpenApi {
    let info = InfoBuilder::new()
        .title("WDM checkout system")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The public API, as served through the gateway. All ids are strings, all \
             amounts whole numbers. A failure the caller caused is a 4xx with a JSON body \
             `{\"error\": \"...\"}` and changes nothing; a 5xx means the system could not \
             answer. Numbers in paths are plain decimal digits.",
        ));
    let mut api = OpenApiBuilder::new().info(info).build();
    let mut tags = Vec::new();
    for (service, prefix, description, mut service_api) in services() {
        for item in service_api.paths.paths.values_mut() {
            for op in operations(item) {
                let id = op.operation_id.take().unwrap_or_default();
                op.operation_id = Some(format!("{service}.{id}"));
                op.tags = Some(vec![service.to_string()]);
            }
        }
        service_api.tags = None;
        api = api.nest(prefix, service_api);
        tags.push(
            TagBuilder::new()
                .name(service)
                .description(Some(description))
                .build(),
        );
    }
    api.tags = Some(tags);
    api
}

/// Every operation of a path item (the methods our services use and the rest).
pub fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
        &mut item.query,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The Swagger UI page and the document, for the order service's public app.
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new(format!("{PAGE_PATH}{{_:.*}}")).url(DOCUMENT_PATH, gateway_api())
}

//! The OpenAPI document of the whole public API as the gateway serves it, put
//! together from every service's handlers.
//!
//! Each service's `PublicApi` (built by utoipa from the annotations on its
//! handlers) and the shared health endpoints are nested under the prefix the
//! gateway routes to that service. The result is committed as
//! `order/openapi.json` ([`COMMITTED_FILE`]), which the order service embeds and
//! serves at `/docs/openapi.json`, so that the order binary does not link the
//! stock and payment services only to describe them. `make openapi` rewrites the
//! file; this crate's tests fail while it is stale. This crate never describes a
//! route by hand: a route belongs in a handler's annotation.

use std::path::{Path, PathBuf};

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};
use utoipa::OpenApi as _;

/// The committed document that the order service embeds (`order::docs::DOCUMENT`),
/// relative to the workspace's root.
pub const COMMITTED_FILE: &str = "order/openapi.json";

/// What rewrites [`COMMITTED_FILE`] from the handlers.
pub const REGENERATE: &str = "`make openapi` (or `cargo run -p api-doc -- --write`)";

/// Where [`COMMITTED_FILE`] is in this checkout.
pub fn committed_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(COMMITTED_FILE)
}

/// Each service's name, the path prefix the gateway routes to it, what it
/// does, and its public API without the prefix. The health endpoints are not in it:
/// the gateway does not route them (they are for the orchestrator).
pub fn services() -> Vec<(&'static str, &'static str, &'static str, OpenApi)> {
    vec![
        (
            "stock",
            "/stock",
            "Items with a price and a stock that never goes below 0.",
            stock::routes::PublicApi::openapi(),
        ),
        (
            "payment",
            "/payment",
            "Users with a credit that never goes below 0.",
            payment::routes::PublicApi::openapi(),
        ),
        (
            "orders",
            "/orders",
            "Orders, and their checkout: a saga that takes the stock and charges the user, \
             all or nothing.",
            order::routes::PublicApi::openapi(),
        ),
    ]
}

/// The document of the public API as served through the gateway.
pub fn gateway_api() -> OpenApi {
    // The workspace's version, which every service crate shares.
    let info = InfoBuilder::new()
        .title("WDM checkout system")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The public API, as served through the gateway. All ids are strings, all \
             amounts whole numbers. A failure the caller caused is a 4xx with a JSON body \
             `{\"error\": \"...\"}` and changes nothing; a 5xx means the system could not \
             answer. Numbers in paths are plain decimal digits. Every write (POST, DELETE) \
             takes an optional `Idempotency-Key` header: sent again with the same key it is \
             applied once and answered as the first time (a repeated create returns the same \
             id); without one, the gateway's request id covers the gateway's own retries.",
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

/// The text of [`COMMITTED_FILE`]: the document as pretty JSON, ending in a newline.
pub fn file_text() -> Result<String, serde_json::Error> {
    Ok(gateway_api().to_pretty_json()? + "\n")
}

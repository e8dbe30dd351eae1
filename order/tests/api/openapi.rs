//! The API document against what is really served: the routes every service
//! registers, the prefixes the gateway (`env/nginx/routes.conf`) routes to
//! them, and answers of the running services.
//!
//! The document checked is the committed `order/openapi.json` that the order
//! service embeds and serves; `api-doc`'s tests check that it is the one the
//! handlers generate. Stock and payment are dev-dependencies here, for their
//! route tables and to run them: the order binary links neither.

use std::collections::{BTreeMap, BTreeSet};

use crate::helpers::TestSystem;
use common::api::RouteList;
use serde_json::Value;

/// A `location` of the gateway that proxies to one of our upstreams.
#[derive(Debug)]
struct Location {
    prefix: String,
    upstream: String,
    /// `rewrite "(?s)^/prefix(/.*)$" $1 break;` strips the prefix before `proxy_pass`.
    strips_prefix: bool,
}

/// The plain prefix locations of the gateway's routes (exact, regex and named ones left
/// out). Each picks its upstream with `set $upstream NAME;` and proxies to
/// `http://$upstream`, so that the retry passes can proxy to the same one.
fn gateway_locations() -> Vec<Location> {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../env/nginx/routes.conf");
    let conf = std::fs::read_to_string(file).expect("routes.conf is readable");
    let mut found = Vec::new();
    let mut current: Option<Location> = None;
    for line in conf.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("location ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            current = match words.as_slice() {
                [prefix, "{"] if prefix.starts_with('/') => Some(Location {
                    prefix: prefix.to_string(),
                    upstream: String::new(),
                    strips_prefix: false,
                }),
                _ => None,
            };
            continue;
        }
        let Some(location) = current.as_mut() else {
            continue;
        };
        if let Some(name) = line.strip_prefix("set $upstream ") {
            location.upstream = name.trim_end_matches(';').trim().to_string();
        } else if let Some(rule) = line.strip_prefix("rewrite ") {
            let bare = location.prefix.trim_end_matches('/');
            let strip = format!("\"(?s)^{bare}(/.*)$\" $1 break;");
            assert_eq!(rule, strip, "unexpected rewrite in {}", location.prefix);
            location.strips_prefix = true;
        } else if let Some(target) = line.strip_prefix("proxy_pass ") {
            assert_eq!(
                target, "http://$upstream;",
                "unexpected proxy_pass {target}"
            );
            assert!(
                !location.upstream.is_empty(),
                "{} proxies before it sets $upstream",
                location.prefix
            );
        } else if line == "}" {
            found.extend(current.take().filter(|l| !l.upstream.is_empty()));
        }
    }
    found
}

/// The public routes each upstream's service registers (health and metrics are not
/// routed by the gateway: they are for the orchestrator and the scraper).
fn registered_routes(upstream: &str) -> RouteList {
    RouteList::of(|table| match upstream {
        "stock" => stock::routes::public(table),
        "payment" => payment::routes::public(table),
        "order" => order::routes::configure(table),
        other => panic!("the gateway routes to an unknown upstream {other}"),
    })
}

/// `(METHOD, path)` of every route, as a caller of the gateway sees it.
fn routes_through_the_gateway() -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    let api_locations: Vec<_> = gateway_locations()
        .into_iter()
        .filter(|l| l.strips_prefix)
        .collect();
    for upstream in ["stock", "payment", "order"] {
        let mounts: Vec<_> = api_locations
            .iter()
            .filter(|l| l.upstream == upstream)
            .collect();
        assert_eq!(
            mounts.len(),
            1,
            "{upstream} must have one API prefix: {mounts:?}"
        );
        let prefix = mounts[0].prefix.trim_end_matches('/');
        let table = registered_routes(upstream).0;
        // One method per path: a second route on a path would be shadowed by the first's 405.
        let paths: BTreeSet<_> = table.iter().map(|(_, path)| path).collect();
        assert_eq!(
            paths.len(),
            table.len(),
            "{upstream} registers a path twice: {table:?}"
        );
        for (method, path) in table {
            routes.insert((method.to_string(), format!("{prefix}{path}")));
        }
    }
    routes
}

/// The document as JSON, as `/docs/openapi.json` serves it.
fn document() -> Value {
    serde_json::from_str(order::docs::DOCUMENT).expect("the committed document is JSON")
}

/// JSON text without the whitespace between tokens (what a compact serializer writes).
fn compact(json: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::with_capacity(json.len()), false, false);
    for c in json.chars() {
        if in_string {
            in_string = escaped || c != '"';
            escaped = !escaped && c == '\\';
        } else if c.is_ascii_whitespace() {
            continue;
        } else {
            in_string = c == '"';
        }
        out.push(c);
    }
    out
}

/// Where two texts first differ, with 40 bytes of each around it (`None` when they are equal).
fn first_difference(a: &str, b: &str) -> Option<String> {
    let at = a
        .bytes()
        .zip(b.bytes())
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))?;
    let near = |text: &str| {
        let bytes = &text.as_bytes()[at.saturating_sub(40)..(at + 40).min(text.len())];
        bytes.escape_ascii().to_string()
    };
    Some(format!("at byte {at}:\n  {}\n  {}", near(a), near(b)))
}

/// `(METHOD, path, operation)` of every documented operation.
fn documented_operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            ops.push((method.to_uppercase(), path.clone(), op.clone()));
        }
    }
    ops
}

#[test]
fn the_document_lists_exactly_the_routes_the_services_register() {
    let documented: BTreeSet<_> = documented_operations(&document())
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    let served = routes_through_the_gateway();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let not_served: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty() && not_served.is_empty(),
        "served but not documented: {undocumented:?}\ndocumented but not served: {not_served:?}"
    );
    // The API table of README.md is there (a sample of each service, through the gateway).
    for route in [
        (
            "POST",
            "/stock/batch_init/{n}/{starting_stock}/{item_price}",
        ),
        ("GET", "/payment/find_user/{user_id}"),
        ("DELETE", "/orders/removeItem/{order_id}/{item_id}"),
        ("POST", "/orders/addItem/{order_id}/{item_id}"),
    ] {
        assert!(
            served.contains(&(route.0.into(), route.1.into())),
            "{route:?}"
        );
    }
}

#[test]
fn the_gateway_routes_the_docs_to_the_order_service_unchanged() {
    let docs: Vec<_> = gateway_locations()
        .into_iter()
        .filter(|l| l.prefix == order::docs::PAGE_PATH)
        .collect();
    assert_eq!(docs.len(), 1, "one location for {}", order::docs::PAGE_PATH);
    assert_eq!(docs[0].upstream, "order");
    assert!(!docs[0].strips_prefix);
    assert!(order::docs::DOCUMENT_PATH.starts_with(order::docs::PAGE_PATH));
}

#[test]
fn every_operation_documents_its_parameters_and_json_bodies() {
    let doc = document();
    let mut ids = BTreeSet::new();
    for (method, path, op) in documented_operations(&doc) {
        let at = format!("{method} {path}");
        assert!(
            ids.insert(op["operationId"].to_string()),
            "{at}: operationId repeats"
        );
        let in_path: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        let all = op["parameters"].as_array().cloned().unwrap_or_default();
        // Every write, and only a write, takes the optional Idempotency-Key header first.
        let (headers, params): (Vec<Value>, Vec<Value>) =
            all.into_iter().partition(|p| p["in"] == "header");
        if matches!(method.as_str(), "POST" | "DELETE") {
            assert_eq!(headers.len(), 1, "{at}: the Idempotency-Key header");
            let key = &headers[0];
            assert_eq!(key["name"], common::idempotency::HEADER, "{at}");
            assert_eq!(key["required"], false, "{at}");
            assert_eq!(key["schema"]["maxLength"], 128, "{at}");
            assert!(key["schema"]["pattern"].is_string(), "{at}");
            let statuses = op["responses"].as_object().expect("responses");
            assert!(
                at.contains("/checkout/") || statuses.contains_key("422"),
                "{at}: a key reused for another request is a documented 422"
            );
        } else {
            assert!(headers.is_empty(), "{at}: a read takes no header");
        }
        let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(names, in_path, "{at}: parameters");
        for p in &params {
            assert_eq!(p["in"], "path", "{at}");
            assert_eq!(p["required"], true, "{at}");
            let schema = &p["schema"];
            match schema["type"].as_str() {
                Some("integer") => {
                    assert!(
                        schema["minimum"].is_i64() && schema["maximum"].is_i64(),
                        "{at}"
                    )
                }
                Some("string") => assert!(schema["pattern"].is_string(), "{at}"),
                other => panic!("{at}: parameter type {other:?}"),
            }
        }
        let responses = op["responses"].as_object().expect("responses");
        let successes = responses.keys().filter(|s| s.starts_with('2')).count();
        assert_eq!(successes, 1, "{at}: one success status");
        for (status, response) in responses {
            let schema = &response["content"]["application/json"]["schema"];
            assert!(schema.is_object(), "{at} {status}: a JSON body");
            if !status.starts_with('2') {
                assert_eq!(
                    schema["$ref"], "#/components/schemas/ErrorBody",
                    "{at} {status}"
                );
            }
        }
    }
    assert!(doc["components"]["schemas"]["ErrorBody"]["properties"]["error"].is_object());
}

/// A value each parameter's schema allows (its minimum, or a plain id).
fn fill(path: &str, op: &Value) -> String {
    let mut out = path.to_string();
    for p in op["parameters"].as_array().cloned().unwrap_or_default() {
        let value = match p["schema"]["minimum"].as_i64() {
            Some(min) => min.to_string(),
            None => "probe".to_string(),
        };
        out = out.replace(
            &format!("{{{}}}", p["name"].as_str().expect("name")),
            &value,
        );
    }
    out
}

fn is_no_route(status: u16, body: &Value) -> bool {
    status == 404
        && body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("no route for"))
}

#[tokio::test]
async fn every_documented_operation_reaches_a_handler_and_answers_a_documented_status() {
    let sys = TestSystem::start().await;
    let doc = document();
    let upstream_of: BTreeMap<String, String> = gateway_locations()
        .into_iter()
        .filter(|l| l.strips_prefix)
        .map(|l| (l.prefix.trim_end_matches('/').to_string(), l.upstream))
        .collect();
    for (method, path, op) in documented_operations(&doc) {
        let (prefix, rest) = path[1..].split_once('/').expect("a prefixed path");
        let base = match upstream_of[&format!("/{prefix}")].as_str() {
            "stock" => &sys.stock_url,
            "payment" => &sys.payment_url,
            _ => &sys.order_url,
        };
        let url = format!("{base}/{}", fill(rest, &op));
        let (status, body) = sys.call(&method, url.clone()).await;
        assert!(!is_no_route(status, &body), "{method} {url} is not routed");
        let documented = op["responses"].as_object().expect("responses");
        let class = format!("{}XX", status / 100);
        assert!(
            documented.contains_key(&status.to_string()) || documented.contains_key(&class),
            "{method} {url}: {status} {body} is not documented"
        );
        // Any other method is a 405 naming the documented one.
        for other in ["PUT", "PATCH", "DELETE", "POST", "GET"] {
            if other == method {
                continue;
            }
            let resp = sys
                .http
                .request(other.parse().unwrap(), &url)
                .send()
                .await
                .unwrap();
            let allow = resp
                .headers()
                .get("allow")
                .map(|v| v.to_str().unwrap().to_string());
            assert_eq!(resp.status(), 405, "{other} {url}");
            assert_eq!(allow.as_deref(), Some(method.as_str()), "{other} {url}");
            let body: Value = resp.json().await.unwrap();
            let error = body["error"].as_str().unwrap_or_default();
            assert!(
                error.ends_with(&format!("use {method}")),
                "{other} {url}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn the_order_service_serves_the_document_and_its_page_from_its_own_assets() {
    let sys = TestSystem::start().await;
    let get = |path: &str| {
        let url = format!("{}{path}", sys.order_url);
        let http = sys.http.clone();
        async move {
            let resp = http.get(&url).send().await.expect("answered");
            assert_eq!(resp.status(), 200, "{url}");
            resp.text().await.expect("a text body")
        }
    };
    let served_text = get(order::docs::DOCUMENT_PATH).await;
    // The committed document byte for byte, as compact JSON with its members in order.
    if let Some(difference) = first_difference(&served_text, &compact(order::docs::DOCUMENT)) {
        panic!("the served document is not order/openapi.json (served, committed) {difference}");
    }
    let served: Value = serde_json::from_str(&served_text).unwrap();
    assert_eq!(served, document());
    assert!(served["openapi"].as_str().unwrap().starts_with("3."));

    let page = get(order::docs::PAGE_PATH).await;
    assert!(page.contains("swagger-ui"), "{page}");
    assert!(
        !page.contains("://"),
        "the page loads nothing from elsewhere: {page}"
    );
    let init = get("/docs/swagger-initializer.js").await;
    assert!(init.contains(order::docs::DOCUMENT_PATH), "{init}");
    let bundle = get("/docs/swagger-ui-bundle.js").await;
    assert!(bundle.len() > 100_000, "the bundled Swagger UI is served");
}

//! Ingress routing as ingress-nginx does it, and the NetworkPolicies.

use crate::{
    container, deployment, environment, labels_match, manifests, pod_labels, service, service_ports,
};
use k8s_manifests::Manifests;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// One routable path of an Ingress, as ingress-nginx sees it.
struct Route {
    ingress: String,
    regex: String,
    rewrite: String,
    backend: String,
    port: String,
    annotations: BTreeMap<String, String>,
}

fn routes(m: &Manifests) -> Vec<Route> {
    let mut out = Vec::new();
    for ing in &m.ingresses {
        let name = ing.metadata.name.clone().unwrap();
        let ann = ing.metadata.annotations.clone().unwrap_or_default();
        let spec = ing.spec.as_ref().unwrap();
        assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"), "{name}");
        assert_eq!(
            ann.get("nginx.ingress.kubernetes.io/use-regex")
                .map(String::as_str),
            Some("true"),
            "{name}: the paths are regular expressions"
        );
        let rewrite = ann
            .get("nginx.ingress.kubernetes.io/rewrite-target")
            .unwrap_or_else(|| panic!("{name}: no rewrite-target (the prefix must be stripped)"));
        for rule in spec.rules.iter().flatten() {
            assert!(rule.host.is_none(), "{name}: rules answer every host");
            for path in &rule.http.as_ref().unwrap().paths {
                let backend = path.backend.service.as_ref().unwrap();
                let svc = service(m, &backend.name);
                let port = backend.port.as_ref().unwrap();
                let svc_port = service_ports(svc)
                    .find(|p| {
                        (port.name.is_some() && p.name == port.name) || Some(p.port) == port.number
                    })
                    .unwrap_or_else(|| {
                        panic!(
                            "Ingress {name} path {:?}: Service {} has no such port",
                            path.path, backend.name
                        )
                    });
                out.push(Route {
                    ingress: name.clone(),
                    regex: path.path.clone().unwrap(),
                    rewrite: rewrite.clone(),
                    backend: backend.name.clone(),
                    port: svc_port.name.clone().unwrap_or_default(),
                    annotations: ann.clone(),
                });
            }
        }
    }
    // ingress-nginx writes regex locations longest path first; nginx takes the first match.
    out.sort_by_key(|r| std::cmp::Reverse(r.regex.len()));
    out
}

/// Where ingress-nginx sends `uri`: the first location whose `^(?i)path` matches, and the
/// path after its `rewrite (?i)path rewrite-target break`.
fn route<'a>(routes: &'a [Route], uri: &str) -> Option<(&'a Route, String)> {
    routes.iter().find_map(|r| {
        let located = regex_lite::Regex::new(&format!("(?i)^{}", r.regex)).unwrap();
        if !located.is_match(uri) {
            return None;
        }
        let rewrite = regex_lite::Regex::new(&format!("(?i){}", r.regex)).unwrap();
        Some((r, rewrite.replace(uri, r.rewrite.as_str()).into_owned()))
    })
}

#[test]
fn ingress_routes_public_ports_only_and_strips_the_prefix() {
    let m = manifests();
    let routes = routes(&m);
    for r in &routes {
        assert_eq!(
            r.port, "http",
            "Ingress {} must never route an internal port ({} -> {})",
            r.ingress, r.regex, r.backend
        );
    }
    for (uri, backend, path) in [
        ("/orders/create/u1", "order", "/create/u1"),
        ("/orders/find/o1", "order", "/find/o1"),
        ("/orders/addItem/o1/i1/2", "order", "/addItem/o1/i1/2"),
        ("/orders/checkout/o1", "order", "/checkout/o1"),
        (
            "/orders/batch_init/10/10/10/1",
            "order",
            "/batch_init/10/10/10/1",
        ),
        ("/stock/find/i1", "stock", "/find/i1"),
        ("/stock/item/create/5", "stock", "/item/create/5"),
        ("/payment/pay/u1/3", "payment", "/pay/u1/3"),
        ("/payment/create_user", "payment", "/create_user"),
        ("/docs/", "order", "/docs/"),
        ("/docs/openapi.json", "order", "/docs/openapi.json"),
    ] {
        let (r, rewritten) = route(&routes, uri).unwrap_or_else(|| panic!("{uri} is not routed"));
        assert_eq!(
            (r.backend.as_str(), rewritten.as_str()),
            (backend, path),
            "{uri} via Ingress {} path {}",
            r.ingress,
            r.regex
        );
    }
    for uri in [
        "/stockx/find/1",
        "/internal/reserve",
        "/health/ready",
        "/",
        "/docsx/",
    ] {
        assert!(route(&routes, uri).is_none(), "{uri} must not be routed");
    }
}

#[test]
fn only_checkout_is_retried_after_it_was_sent() {
    let m = manifests();
    let routes = routes(&m);
    let next_upstream = |r: &Route| {
        r.annotations
            .get("nginx.ingress.kubernetes.io/proxy-next-upstream")
            .cloned()
            .unwrap_or_default()
    };
    let (checkout, _) = route(&routes, "/orders/checkout/o1").unwrap();
    let policy = next_upstream(checkout);
    for needed in ["error", "non_idempotent"] {
        assert!(
            policy.split_whitespace().any(|p| p == needed),
            "checkout retry policy {policy:?} lacks {needed}"
        );
    }
    let tries: u32 = checkout
        .annotations
        .get("nginx.ingress.kubernetes.io/proxy-next-upstream-tries")
        .expect("checkout: proxy-next-upstream-tries")
        .parse()
        .unwrap();
    assert!(tries >= 2, "checkout must be tried on another order pod");
    for r in &routes {
        if r.regex.starts_with("/orders/checkout/") {
            continue;
        }
        assert!(
            !next_upstream(r).contains("non_idempotent"),
            "Ingress {} retries non-idempotent requests on {}",
            r.ingress,
            r.regex
        );
    }
    let wait: u64 = environment(&m, container(deployment(&m, "order")))["CHECKOUT_WAIT_MS"]
        .parse()
        .unwrap();
    for r in &routes {
        let read: u64 = r
            .annotations
            .get("nginx.ingress.kubernetes.io/proxy-read-timeout")
            .map_or(60, |v| v.parse().unwrap());
        assert!(
            read * 1000 > wait,
            "Ingress {}: proxy-read-timeout {read}s is shorter than CHECKOUT_WAIT_MS {wait}",
            r.ingress
        );
    }
}
#[test]
fn only_order_reaches_the_internal_ports() {
    let m = manifests();
    for target in ["stock", "payment"] {
        let labels = pod_labels(deployment(&m, target));
        let policies: Vec<_> = m
            .network_policies
            .iter()
            .filter(|p| {
                labels_match(
                    p.spec
                        .as_ref()
                        .unwrap()
                        .pod_selector
                        .as_ref()
                        .and_then(|s| s.match_labels.as_ref())
                        .unwrap_or(&BTreeMap::new()),
                    &labels,
                )
            })
            .collect();
        assert!(!policies.is_empty(), "no NetworkPolicy selects {target}");
        let order_labels = pod_labels(deployment(&m, "order"));
        let mut internal_rules = 0;
        for p in policies {
            for rule in p.spec.as_ref().unwrap().ingress.iter().flatten() {
                let opens_internal = rule.ports.as_ref().is_none_or(|ports| {
                    ports.iter().any(|pp| {
                        pp.port.is_none()
                            || pp.port == Some(IntOrString::Int(8081))
                            || pp.port == Some(IntOrString::String("internal".into()))
                    })
                });
                if !opens_internal {
                    continue;
                }
                internal_rules += 1;
                let from = rule
                    .from
                    .as_ref()
                    .unwrap_or_else(|| panic!("{target}: internal port open to everyone"));
                for peer in from {
                    assert!(
                        peer.namespace_selector.is_none() && peer.ip_block.is_none(),
                        "{target}: internal port open beyond order"
                    );
                    let sel = peer
                        .pod_selector
                        .as_ref()
                        .and_then(|s| s.match_labels.clone())
                        .unwrap_or_default();
                    assert!(
                        labels_match(&sel, &order_labels),
                        "{target}: internal port open to {sel:?}"
                    );
                }
            }
        }
        assert!(
            internal_rules > 0,
            "{target}: the internal port is closed to order too"
        );
    }
}

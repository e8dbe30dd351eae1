//! Ingress routing as ingress-nginx does it, its retry policy and the idempotency key the
//! controller sends, and the NetworkPolicies.

use crate::{
    container, deployment, environment, labels_match, manifests, pod_labels, service,
    service_ports, yaml,
};
use k8s_manifests::{repo_dir, Manifests};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use regex_lite::Regex;
use std::collections::BTreeMap;

/// One routable path of an Ingress, as ingress-nginx sees it.
struct Route {
    ingress: String,
    regex: String,
    rewrite: String,
    backend: String,
    port: String,
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

/// `(method, path)` of every row of README.md's API table, the optional `[/{quantity}]` in
/// both forms, parameters filled in.
fn readme_api() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_dir().join("README.md")).unwrap();
    let row = Regex::new(r"^\| (GET|POST|DELETE) \| `(/[^`]+)` \|").unwrap();
    let param = Regex::new(r"\{[a-z_]+\}").unwrap();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(c) = row.captures(line) else {
            continue;
        };
        let path = &c[2];
        let forms = match path.split_once('[') {
            Some((base, opt)) => vec![
                base.to_string(),
                format!("{base}{}", opt.trim_end_matches(']')),
            ],
            None => vec![path.to_string()],
        };
        for f in forms {
            out.push((c[1].to_string(), param.replace_all(&f, "7").into_owned()));
        }
    }
    out
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
    let api = readme_api();
    assert!(api.len() >= 16, "README.md's API table: {api:?}");
    let from_readme = api.iter().map(|(_, path)| {
        let (prefix, rest) = path[1..].split_once('/').unwrap();
        let backend = if prefix == "orders" { "order" } else { prefix };
        (path.clone(), backend.to_string(), format!("/{rest}"))
    });
    let listed = [
        ("/orders/checkout/o1", "order", "/checkout/o1"),
        ("/orders/saga/o1", "order", "/saga/o1"),
        ("/stock/item/create/5", "stock", "/item/create/5"),
        ("/payment/create_user", "payment", "/create_user"),
        ("/docs/", "order", "/docs/"),
        ("/docs/openapi.json", "order", "/docs/openapi.json"),
    ]
    .map(|(u, b, p)| (u.to_string(), b.to_string(), p.to_string()));
    for (uri, backend, path) in from_readme.chain(listed) {
        let (r, rewritten) = route(&routes, &uri).unwrap_or_else(|| panic!("{uri} is not routed"));
        assert_eq!(
            (r.backend.as_str(), rewritten.as_str()),
            (backend.as_str(), path.as_str()),
            "{uri} via Ingress {} path {}",
            r.ingress,
            r.regex
        );
    }
    // Only the public API: metrics and health are for the scraper and the kubelet, which
    // reach the pods directly; the internal saga routes live on the internal port.
    for uri in [
        "/stock/metrics",
        "/stock/health/ready",
        "/stock/health/live",
        "/payment/metrics",
        "/payment/health/ready",
        "/orders/metrics",
        "/orders/health/live",
        "/orders/health",
        "/metrics",
        "/health/ready",
        "/stock/saga/reserve",
        "/payment/saga/charge",
        "/stockx/find/1",
        "/internal/reserve",
        "/",
        "/docsx/",
    ] {
        assert!(route(&routes, uri).is_none(), "{uri} must not be routed");
    }
}

#[test]
fn every_ingress_retries_every_request_on_another_pod() {
    let m = manifests();
    let wait: u64 = environment(&m, container(deployment(&m, "order")))["CHECKOUT_WAIT_MS"]
        .parse()
        .unwrap();
    let store_wait: u64 = environment(&m, container(deployment(&m, "stock")))["REDIS_WAIT_MS"]
        .parse()
        .unwrap();
    let routes = routes(&m);
    let max_pods = m
        .hpas
        .iter()
        .map(|h| h.spec.as_ref().unwrap().max_replicas)
        .max()
        .unwrap();
    for ing in &m.ingresses {
        let name = ing.metadata.name.clone().unwrap();
        let ann = ing.metadata.annotations.clone().unwrap_or_default();
        let get = |key: &str| {
            ann.get(&format!("nginx.ingress.kubernetes.io/{key}"))
                .unwrap_or_else(|| panic!("Ingress {name}: no {key}"))
                .clone()
        };
        let policy = get("proxy-next-upstream");
        for needed in ["error", "timeout", "non_idempotent"] {
            assert!(
                policy.split_whitespace().any(|p| p == needed),
                "Ingress {name}: retry policy {policy:?} lacks {needed} (every write is idempotent by its key)"
            );
        }
        assert!(
            !policy.split_whitespace().any(|p| p.starts_with("http_")),
            "Ingress {name}: a service's own answer must never be retried ({policy:?})"
        );
        let tries: i32 = get("proxy-next-upstream-tries").parse().unwrap();
        assert!(
            tries >= 2 * max_pods,
            "Ingress {name}: {tries} tries do not reach each of up to {max_pods} pods twice"
        );
        let retry_window: u64 = get("proxy-next-upstream-timeout").parse().unwrap();
        assert!(
            retry_window * 1000 > wait,
            "Ingress {name}: a checkout waits up to CHECKOUT_WAIT_MS {wait} ms, but a retry may \
             only start within {retry_window} s of the first try"
        );
        assert_eq!(
            get("load-balance"),
            "ewma",
            "Ingress {name}: round robin hands a paused pod every n-th request until every \
             client waits for it; ewma (like the gateway's least_conn) routes around it"
        );
        let read: u64 = ann
            .get("nginx.ingress.kubernetes.io/proxy-read-timeout")
            .map_or(60, |v| v.parse().unwrap());
        let long = ing_routes(&routes, &name).any(|r| LONG.iter().any(|l| r.regex.contains(l)));
        if long {
            assert!(
                read * 1000 > wait,
                "Ingress {name}: proxy-read-timeout {read}s is shorter than CHECKOUT_WAIT_MS {wait}"
            );
        } else {
            assert!(
                read <= 1,
                "Ingress {name} routes only short routes: a paused pod must hold a request at \
                 most 1 s, not {read} s"
            );
            assert!(
                u64::try_from(tries).unwrap() * read * 1000 > store_wait,
                "Ingress {name}: {tries} tries of {read} s give up before a service's wait for \
                 its store (REDIS_WAIT_MS {store_wait})"
            );
        }
    }
    for uri in [
        "/orders/checkout/o1",
        "/orders/batch_init/1/1/1/1",
        "/stock/batch_init/1/1/1",
    ] {
        let (r, _) = route(&routes, uri).unwrap_or_else(|| panic!("{uri} is not routed"));
        let ing = m
            .ingresses
            .iter()
            .find(|i| i.metadata.name.as_deref() == Some(&r.ingress));
        let ann = ing
            .and_then(|i| i.metadata.annotations.clone())
            .unwrap_or_default();
        assert_eq!(
            ann.get("nginx.ingress.kubernetes.io/proxy-read-timeout")
                .map(String::as_str),
            Some("300"),
            "{uri} is a long route: Ingress {} must wait for it",
            r.ingress
        );
    }
}

/// The routes whose time is not bounded by a short read timeout (their Ingress waits).
const LONG: [&str; 2] = ["checkout", "batch_init"];

fn ing_routes<'a>(routes: &'a [Route], ingress: &'a str) -> impl Iterator<Item = &'a Route> {
    routes.iter().filter(move |r| r.ingress == ingress)
}

/// The `map` that makes `$idempotency_key`, whitespace collapsed.
fn idempotency_map(text: &str, what: &str) -> String {
    let map = Regex::new(r"map \$http_idempotency_key \$idempotency_key \{[^}]*\}").unwrap();
    let found = map
        .find(text)
        .unwrap_or_else(|| panic!("{what}: no map $http_idempotency_key $idempotency_key"));
    found
        .as_str()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_ingress_controller_sends_the_idempotency_key_the_gateway_sends() {
    let values = yaml("helm-config/ingress-nginx-values.yaml");
    let controller = &values["controller"];
    let snippet = controller["config"]["http-snippet"]
        .as_str()
        .expect("controller.config.http-snippet");
    let ingress_map = idempotency_map(snippet, "http-snippet");
    assert!(
        ingress_map.contains(r#""" $request_id;"#)
            && ingress_map.contains("default $http_idempotency_key;"),
        "the client's key, else the request id: {ingress_map}"
    );
    for main in ["env/nginx/gateway.conf", "env/nginx/gateway-compose.conf"] {
        let text = std::fs::read_to_string(repo_dir().join(main)).unwrap();
        assert_eq!(
            idempotency_map(&text, main),
            ingress_map,
            "{main} vs the Ingress"
        );
    }
    assert_eq!(
        controller["proxySetHeaders"]["Idempotency-Key"].as_str(),
        Some("$idempotency_key"),
        "controller.proxySetHeaders sends the key on every proxied request"
    );
    assert_ne!(
        controller["allowSnippetAnnotations"].as_bool(),
        Some(true),
        "the map is a global snippet of the ConfigMap: snippet annotations stay off"
    );
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

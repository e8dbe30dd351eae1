//! The wiring that breaks a deployment silently: every manifest parses into its typed
//! struct, and the documents agree with each other and with what the binaries read.

use k8s_manifests::{env_vars_read, k8s_dir, load, millicores, port_of, repo_dir, Manifests};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet};

const CPU_BUDGET_MILLIS: u64 = 20_000;
const SERVICES: [&str; 3] = ["order", "stock", "payment"];

fn manifests() -> Manifests {
    load(&k8s_dir()).unwrap_or_else(|e| panic!("{e:#}"))
}

fn deployment<'a>(m: &'a Manifests, name: &str) -> &'a Deployment {
    m.deployments
        .iter()
        .find(|d| d.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no Deployment {name}"))
}

fn service<'a>(m: &'a Manifests, name: &str) -> &'a Service {
    m.services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no Service {name}"))
}

fn container(d: &Deployment) -> &Container {
    let spec = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    assert_eq!(spec.containers.len(), 1, "one container per pod");
    &spec.containers[0]
}

fn labels_match(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn pod_labels(d: &Deployment) -> BTreeMap<String, String> {
    d.spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .clone()
        .unwrap_or_default()
}

/// The container's environment as the kubelet builds it: envFrom ConfigMaps (later ones win),
/// then `env` (with `$(VAR)` expanded from what is defined before). Secret refs become
/// `<secret:name/key>`.
fn environment(m: &Manifests, c: &Container) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for from in c.env_from.iter().flatten() {
        let name = &from
            .config_map_ref
            .as_ref()
            .expect("envFrom is a ConfigMap")
            .name;
        let cm = m
            .config_maps
            .iter()
            .find(|cm| cm.metadata.name.as_deref() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{}: envFrom ConfigMap {name} does not exist", c.name));
        env.extend(cm.data.clone().unwrap_or_default());
    }
    for var in c.env.iter().flatten() {
        let value = if let Some(v) = &var.value {
            let mut out = v.clone();
            while let Some(start) = out.find("$(") {
                let end = out[start..].find(')').expect("closed $(") + start;
                let name = out[start + 2..end].to_string();
                let val = env.get(&name).unwrap_or_else(|| {
                    panic!(
                        "{}: {} uses $({name}), not defined before",
                        c.name, var.name
                    )
                });
                out.replace_range(start..=end, val);
            }
            out
        } else if let Some(src) = &var.value_from {
            if let Some(s) = &src.secret_key_ref {
                let secret = m
                    .secrets
                    .iter()
                    .find(|x| x.metadata.name.as_deref() == Some(s.name.as_str()))
                    .unwrap_or_else(|| panic!("{}: Secret {} does not exist", c.name, s.name));
                let has = secret
                    .string_data
                    .as_ref()
                    .is_some_and(|d| d.contains_key(&s.key))
                    || secret.data.as_ref().is_some_and(|d| d.contains_key(&s.key));
                assert!(has, "Secret {} has no key {}", s.name, s.key);
                format!("<secret:{}/{}>", s.name, s.key)
            } else if let Some(f) = &src.field_ref {
                format!("<field:{}>", f.field_path)
            } else {
                panic!("{}: unsupported valueFrom for {}", c.name, var.name)
            }
        } else {
            String::new()
        };
        env.insert(var.name.clone(), value);
    }
    env
}

#[test]
fn every_manifest_parses_and_kustomization_lists_them() {
    let m = manifests();
    assert!(m.files.len() >= 8, "manifests found: {:?}", m.files);
    let kustomization: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(k8s_dir().join("kustomization.yaml")).unwrap(),
    )
    .unwrap();
    let listed: BTreeSet<&str> = kustomization["resources"]
        .as_sequence()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for f in &m.files {
        let name = f.file_name().unwrap().to_str().unwrap();
        assert!(
            listed.contains(name),
            "kustomization.yaml does not list {name}"
        );
    }
    for s in SERVICES {
        deployment(&m, s);
        service(&m, s);
        assert!(
            m.hpas
                .iter()
                .any(|h| h.spec.as_ref().unwrap().scale_target_ref.name == s),
            "no HPA for {s}"
        );
    }
}

#[test]
fn every_variable_the_binaries_read_is_set() {
    let m = manifests();
    let repo = repo_dir();
    let mut common = env_vars_read(&[
        repo.join("common/src/config.rs"),
        repo.join("common/src/telemetry.rs"),
    ])
    .unwrap();
    common.push("RUST_LOG".into()); // read by tracing's EnvFilter
    let order_only = env_vars_read(&[repo.join("order/src/config.rs")]).unwrap();
    for v in [
        "LISTEN_ADDR",
        "INTERNAL_LISTEN_ADDR",
        "REDIS_URL",
        "WORKERS",
        "LOG_FORMAT",
    ] {
        assert!(
            common.iter().any(|c| c == v),
            "scanner missed {v}: {common:?}"
        );
    }
    assert!(
        order_only.iter().any(|c| c == "STOCK_URL"),
        "scanner missed STOCK_URL: {order_only:?}"
    );
    for s in SERVICES {
        let d = deployment(&m, s);
        let env = environment(&m, container(d));
        let needed = common
            .iter()
            .chain(order_only.iter().filter(|_| s == "order"));
        for v in needed {
            let val = env.get(v).unwrap_or_else(|| panic!("{s}: {v} is not set"));
            assert!(!val.is_empty(), "{s}: {v} is empty");
        }
        let url = &env["REDIS_URL"];
        assert!(
            url.starts_with("redis://:<secret:"),
            "{s}: REDIS_URL must take its password from a Secret: {url}"
        );
        assert!(
            url.contains(&format!("redis-{s}-master:6379")),
            "{s}: REDIS_URL points at its own Redis: {url}"
        );
    }
}

#[test]
fn order_reaches_the_participants_internal_ports() {
    let m = manifests();
    let env = environment(&m, container(deployment(&m, "order")));
    for (var, target) in [("STOCK_URL", "stock"), ("PAYMENT_URL", "payment")] {
        let url = &env[var];
        let svc = service(&m, target);
        let internal = svc
            .spec
            .as_ref()
            .unwrap()
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some("internal"))
            .unwrap_or_else(|| panic!("Service {target} has no internal port"));
        let host = url
            .trim_start_matches("http://")
            .split(['.', ':'])
            .next()
            .unwrap();
        assert_eq!(host, target, "{var}={url}");
        assert_eq!(
            port_of(url).unwrap(),
            internal.port,
            "{var}={url} is not {target}'s internal port"
        );
        let participant = environment(&m, container(deployment(&m, target)));
        let listen = port_of(&participant["INTERNAL_LISTEN_ADDR"]).unwrap();
        let target_port = match internal.target_port.as_ref().unwrap() {
            IntOrString::Int(p) => *p,
            IntOrString::String(name) => {
                container(deployment(&m, target))
                    .ports
                    .iter()
                    .flatten()
                    .find(|p| p.name.as_deref() == Some(name.as_str()))
                    .unwrap()
                    .container_port
            }
        };
        assert_eq!(
            target_port, listen,
            "{target}: internal Service port does not reach INTERNAL_LISTEN_ADDR"
        );
    }
}

#[test]
fn selectors_ports_and_probes_match() {
    let m = manifests();
    for d in &m.deployments {
        let name = d.metadata.name.clone().unwrap();
        let spec = d.spec.as_ref().unwrap();
        let labels = pod_labels(d);
        assert!(
            labels_match(spec.selector.match_labels.as_ref().unwrap(), &labels),
            "{name}: selector vs template labels"
        );
        let c = container(d);
        let env = environment(&m, c);
        let ports: BTreeMap<String, i32> = c
            .ports
            .iter()
            .flatten()
            .map(|p| (p.name.clone().unwrap_or_default(), p.container_port))
            .collect();
        assert_eq!(
            ports.get("http"),
            Some(&port_of(&env["LISTEN_ADDR"]).unwrap()),
            "{name}: http port vs LISTEN_ADDR"
        );
        if let Some(p) = ports.get("internal") {
            assert_eq!(
                *p,
                port_of(&env["INTERNAL_LISTEN_ADDR"]).unwrap(),
                "{name}: internal port vs INTERNAL_LISTEN_ADDR"
            );
        }
        let probe_ok =
            |probe: &Option<k8s_openapi::api::core::v1::Probe>, path: &str, what: &str| {
                let probe = probe
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name}: no {what} probe"));
                let get = probe
                    .http_get
                    .as_ref()
                    .unwrap_or_else(|| panic!("{name}: {what} is not httpGet"));
                assert_eq!(get.path.as_deref(), Some(path), "{name}: {what} path");
                match &get.port {
                    IntOrString::String(p) => assert!(
                        ports.contains_key(p),
                        "{name}: {what} port {p} not declared"
                    ),
                    IntOrString::Int(p) => assert!(
                        ports.values().any(|v| v == p),
                        "{name}: {what} port {p} not declared"
                    ),
                }
            };
        probe_ok(&c.readiness_probe, "/health/ready", "readiness");
        probe_ok(&c.liveness_probe, "/health/live", "liveness");
        if c.startup_probe.is_some() {
            probe_ok(&c.startup_probe, "/health/live", "startup");
        }
        let res = c
            .resources
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no resources"));
        for key in ["cpu", "memory"] {
            assert!(
                res.limits.as_ref().is_some_and(|l| l.contains_key(key)),
                "{name}: no {key} limit"
            );
            assert!(
                res.requests.as_ref().is_some_and(|l| l.contains_key(key)),
                "{name}: no {key} request"
            );
        }
        // Graceful termination outlasts the service's own shutdown wait (and, for order, a checkout).
        let grace = spec
            .template
            .spec
            .as_ref()
            .unwrap()
            .termination_grace_period_seconds
            .unwrap_or(30);
        let shutdown: i64 = env["SHUTDOWN_TIMEOUT_SECS"].parse().unwrap();
        assert!(
            grace > shutdown,
            "{name}: grace {grace}s <= SHUTDOWN_TIMEOUT_SECS {shutdown}"
        );
        if let Some(wait) = env.get("CHECKOUT_WAIT_MS") {
            let wait: i64 = wait.parse().unwrap();
            assert!(
                grace * 1000 > wait,
                "{name}: grace {grace}s <= CHECKOUT_WAIT_MS {wait}"
            );
        }
    }
    for s in &m.services {
        let name = s.metadata.name.clone().unwrap();
        let spec = s.spec.as_ref().unwrap();
        let selector = spec.selector.clone().unwrap_or_default();
        let d = m
            .deployments
            .iter()
            .find(|d| labels_match(&selector, &pod_labels(d)))
            .unwrap_or_else(|| panic!("Service {name} selects no Deployment"));
        assert_eq!(
            spec.type_.as_deref().unwrap_or("ClusterIP"),
            "ClusterIP",
            "{name}"
        );
        let c = container(d);
        for p in spec.ports.iter().flatten() {
            let ok = match p.target_port.as_ref().unwrap_or(&IntOrString::Int(p.port)) {
                IntOrString::String(n) => c
                    .ports
                    .iter()
                    .flatten()
                    .any(|cp| cp.name.as_deref() == Some(n.as_str())),
                IntOrString::Int(n) => c.ports.iter().flatten().any(|cp| cp.container_port == *n),
            };
            assert!(
                ok,
                "Service {name} port {:?} targets no container port",
                p.name
            );
        }
    }
    for pdb in &m.pdbs {
        let sel = pdb
            .spec
            .as_ref()
            .unwrap()
            .selector
            .as_ref()
            .unwrap()
            .match_labels
            .clone()
            .unwrap_or_default();
        assert!(
            m.deployments
                .iter()
                .any(|d| labels_match(&sel, &pod_labels(d))),
            "PDB {:?} selects nothing",
            pdb.metadata.name
        );
    }
    for h in &m.hpas {
        let t = &h.spec.as_ref().unwrap().scale_target_ref;
        assert_eq!(t.kind, "Deployment");
        deployment(&m, &t.name);
    }
}

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
                let svc_port = svc
                    .spec
                    .as_ref()
                    .unwrap()
                    .ports
                    .iter()
                    .flatten()
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
        ("/orders/batch_init/10/10/10/1", "order", "/batch_init/10/10/10/1"),
        ("/stock/find/i1", "stock", "/find/i1"),
        ("/stock/item/create/5", "stock", "/item/create/5"),
        ("/payment/pay/u1/3", "payment", "/pay/u1/3"),
        ("/payment/create_user", "payment", "/create_user"),
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
    for uri in ["/stockx/find/1", "/internal/reserve", "/health/ready", "/"] {
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

fn yaml(path: &str) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(repo_dir().join(path)).unwrap()).unwrap()
}

fn cpu_limit(v: &serde_yaml::Value) -> u64 {
    millicores(v["resources"]["limits"]["cpu"].as_str().expect("cpu limit")).unwrap()
}

#[test]
fn cpu_limits_at_max_replicas_fit_in_20_cpus() {
    let m = manifests();
    let mut total = 0;
    let mut lines = Vec::new();
    for d in &m.deployments {
        let name = d.metadata.name.clone().unwrap();
        let hpa = m
            .hpas
            .iter()
            .find(|h| h.spec.as_ref().unwrap().scale_target_ref.name == name);
        let max = hpa.map_or(d.spec.as_ref().unwrap().replicas.unwrap_or(1), |h| {
            h.spec.as_ref().unwrap().max_replicas
        }) as u64;
        let c = container(d);
        let lim =
            millicores(&c.resources.as_ref().unwrap().limits.as_ref().unwrap()["cpu"].0).unwrap();
        lines.push(format!("{name}: {max} x {lim}m"));
        total += max * lim;
    }
    // Three bitnami Redis releases with the same values.
    let redis = yaml("helm-config/redis-values.yaml");
    let per_release = redis["master"]["count"].as_u64().unwrap_or(1) * cpu_limit(&redis["master"])
        + redis["replica"]["replicaCount"].as_u64().unwrap() * cpu_limit(&redis["replica"]);
    assert_ne!(
        redis["replica"]["autoscaling"]["enabled"].as_bool(),
        Some(true),
        "Redis replicas must not autoscale"
    );
    lines.push(format!("redis: 3 x {per_release}m"));
    total += 3 * per_release;
    let ingress = yaml("helm-config/ingress-nginx-values.yaml");
    assert_ne!(
        ingress["controller"]["autoscaling"]["enabled"].as_bool(),
        Some(true)
    );
    let ing =
        ingress["controller"]["replicaCount"].as_u64().unwrap() * cpu_limit(&ingress["controller"]);
    lines.push(format!("ingress-nginx: {ing}m"));
    total += ing;
    assert!(
        total <= CPU_BUDGET_MILLIS,
        "CPU limits at max replicas: {total}m > 20 CPUs: {lines:?}"
    );
    println!(
        "CPU limits at max replicas: {total}m of {CPU_BUDGET_MILLIS}m ({})",
        lines.join(", ")
    );
}

#[test]
fn redis_values_are_durable_and_use_the_secret() {
    let m = manifests();
    let redis = yaml("helm-config/redis-values.yaml");
    let secret = redis["auth"]["existingSecret"].as_str().unwrap();
    let key = redis["auth"]["existingSecretPasswordKey"].as_str().unwrap();
    let s = m
        .secrets
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(secret))
        .expect("Redis Secret in k8s/");
    assert!(
        s.string_data.as_ref().is_some_and(|d| d.contains_key(key))
            || s.data.as_ref().is_some_and(|d| d.contains_key(key))
    );
    let conf = redis["commonConfiguration"].as_str().unwrap();
    assert!(
        conf.contains("appendonly yes") && conf.contains("appendfsync always"),
        "{conf}"
    );
    assert_eq!(
        redis["master"]["persistence"]["enabled"].as_bool(),
        Some(true)
    );
}

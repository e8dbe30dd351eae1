//! Environment, ports, probes, selectors and graceful termination.

use crate::{
    container, deployment, environment, labels_match, manifests, pod_labels, service,
    service_ports, SERVICES,
};
use k8s_manifests::{env_vars_read, k8s_dir, port_of, repo_dir, rust_sources, Manifests};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{BTreeMap, BTreeSet};

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
/// Variables the binaries read that the manifests leave unset on purpose, and why.
const OPTIONAL: [(&str, &str); 5] = [
    (
        "CRASH_AFTER_WRITES",
        "unset: the crash test's fault injection, never set in a deployment",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "unset: no traces are exported (there is no collector in these manifests)",
    ),
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "unset: no traces are exported (there is no collector in these manifests)",
    ),
    (
        "OTEL_SERVICE_NAME",
        "unset: spans carry the service's own name",
    ),
    ("TRACE_FILTER", "only used when traces are exported"),
];

fn read_by(dirs: &[&str]) -> Vec<String> {
    let repo = repo_dir();
    let mut files = Vec::new();
    for d in dirs {
        files.extend(rust_sources(&repo.join(d)).unwrap());
    }
    env_vars_read(&files).unwrap()
}

#[test]
fn every_variable_the_binaries_read_is_set() {
    let m = manifests();
    let mut common = read_by(&["common/src"]);
    common.push("RUST_LOG".into()); // read by tracing's EnvFilter::try_from_default_env
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
    for (v, _) in OPTIONAL {
        assert!(
            common.iter().any(|c| c == v),
            "{v} is listed as optional but no longer read: {common:?}"
        );
    }
    for s in SERVICES {
        let own = read_by(&[&format!("{s}/src")]);
        if s == "order" {
            assert!(
                own.iter().any(|c| c == "STOCK_URL"),
                "scanner missed STOCK_URL: {own:?}"
            );
        }
        let env = environment(&m, container(deployment(&m, s)));
        for v in common.iter().chain(&own) {
            if OPTIONAL.iter().any(|(o, _)| o == v) {
                continue;
            }
            let val = env.get(v).unwrap_or_else(|| panic!("{s}: {v} is not set"));
            assert!(!val.is_empty(), "{s}: {v} is empty");
        }
        redis_url_lists_its_cluster(s, &env["REDIS_URL"]);
    }
}

/// REDIS_URL: every pod of the service's own Redis Cluster (release redis-<svc>, pods
/// redis-<svc>-0 .. behind redis-<svc>-headless), each with the password from the Secret.
fn redis_url_lists_its_cluster(s: &str, url: &str) {
    let nodes = crate::yaml(crate::budget::REDIS_VALUES)["cluster"]["nodes"]
        .as_u64()
        .unwrap();
    let seeds: Vec<&str> = url.split(',').collect();
    let expected: Vec<String> = (0..nodes)
        .map(|n| format!("redis-{s}-{n}.redis-{s}-headless.wdm.svc.cluster.local:6379"))
        .collect();
    assert_eq!(seeds.len(), expected.len(), "{s}: REDIS_URL seeds: {url}");
    for (seed, host) in seeds.iter().zip(&expected) {
        let rest = seed
            .strip_prefix("redis://:<secret:")
            .unwrap_or_else(|| panic!("{s}: each seed takes the password from a Secret: {seed}"));
        assert!(
            rest.ends_with(&format!(">@{host}")),
            "{s}: seed {seed} is not {host} of its own cluster"
        );
    }
}

#[test]
fn order_reaches_the_participants_internal_ports() {
    let m = manifests();
    let env = environment(&m, container(deployment(&m, "order")));
    for (var, target) in [("STOCK_URL", "stock"), ("PAYMENT_URL", "payment")] {
        // One Service URL here (kube-proxy spreads the connections over the pods); the
        // variable may list several, comma-separated, and each must reach the internal port.
        for url in env[var].split(',') {
            participant_internal_port(&m, var, url, target);
        }
    }
}

/// `url` (one entry of order's `var`) reaches `target`'s internal Service port, and that port
/// reaches the participant's INTERNAL_LISTEN_ADDR.
fn participant_internal_port(m: &Manifests, var: &str, url: &str, target: &str) {
    let internal = service_ports(service(m, target))
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
    let participant = environment(m, container(deployment(m, target)));
    let listen = port_of(&participant["INTERNAL_LISTEN_ADDR"]).unwrap();
    let target_port = match internal.target_port.as_ref().unwrap() {
        IntOrString::Int(p) => *p,
        IntOrString::String(name) => {
            container(deployment(m, target))
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
        // Readiness pings the service's Redis, which every pod of the service shares: a
        // failover fails it on all of them at once, and a Service with no ready pod
        // answers 503 where a request would have waited REDIS_WAIT_MS for its store. So a
        // pod leaves only after failing for longer than that wait.
        let ready = c.readiness_probe.as_ref().unwrap();
        let failing_ms = i64::from(ready.period_seconds.unwrap_or(10))
            * i64::from(ready.failure_threshold.unwrap_or(3))
            * 1000;
        let store_wait: i64 = env["REDIS_WAIT_MS"].parse().unwrap();
        assert!(
            failing_ms > store_wait,
            "{name}: readiness fails a pod after {failing_ms} ms, not longer than \
             REDIS_WAIT_MS {store_wait}"
        );
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

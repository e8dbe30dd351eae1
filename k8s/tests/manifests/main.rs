//! The wiring that breaks a deployment silently: every manifest parses into its typed
//! struct, and the documents agree with each other and with what the binaries read.
//!
//! `wiring`: environment, ports, probes, selectors, termination; `network`: Ingress routing,
//! retries and idempotency keys, and NetworkPolicies; `spread`: replicas, disruption budgets
//! and anti-affinity; `budget`: the 20-CPU cap and the Redis values; `compose`:
//! docker-compose.yml's Redis Clusters agree with those values.

mod budget;
mod compose;
mod network;
mod spread;
mod wiring;

use k8s_manifests::{k8s_dir, load, repo_dir, Manifests};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, Service, ServicePort};
use std::collections::BTreeMap;

const SERVICES: [&str; 3] = ["order", "stock", "payment"];

pub fn manifests() -> Manifests {
    load(&k8s_dir()).unwrap_or_else(|e| panic!("{e:#}"))
}

/// A YAML file of the repository (Helm values), untyped.
pub fn yaml(path: &str) -> serde_yaml::Value {
    let text =
        std::fs::read_to_string(repo_dir().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn deployment<'a>(m: &'a Manifests, name: &str) -> &'a Deployment {
    m.deployments
        .iter()
        .find(|d| d.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no Deployment {name}"))
}

pub fn service<'a>(m: &'a Manifests, name: &str) -> &'a Service {
    m.services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no Service {name}"))
}

pub fn service_ports(svc: &Service) -> impl Iterator<Item = &ServicePort> {
    svc.spec.as_ref().unwrap().ports.iter().flatten()
}

pub fn container(d: &Deployment) -> &Container {
    let spec = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    assert_eq!(spec.containers.len(), 1, "one container per pod");
    &spec.containers[0]
}

pub fn labels_match(
    selector: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

pub fn pod_labels(d: &Deployment) -> BTreeMap<String, String> {
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
pub fn environment(m: &Manifests, c: &Container) -> BTreeMap<String, String> {
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

//! The course's 20-CPU cap at the HPAs' maximum replica counts, and the Redis values.

use crate::{container, manifests, yaml};
use k8s_manifests::millicores;

const CPU_BUDGET_MILLIS: u64 = 20_000;

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

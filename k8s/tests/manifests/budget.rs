//! The course's 20-CPU cap at the HPAs' maximum replica counts, and the Redis Cluster values
//! and how the deploy scripts install them.

use crate::{container, manifests, yaml};
use k8s_manifests::millicores;

const CPU_BUDGET_MILLIS: u64 = 20_000;
pub const REDIS_VALUES: &str = "helm-config/redis-cluster-values.yaml";

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
    // Three bitnami redis-cluster releases with the same values: cluster.nodes pods each.
    let redis = yaml(REDIS_VALUES);
    let nodes = redis["cluster"]["nodes"].as_u64().expect("cluster.nodes");
    let per_release = nodes * cpu_limit(&redis["redis"]);
    lines.push(format!(
        "redis: 3 x {nodes} x {}m",
        cpu_limit(&redis["redis"])
    ));
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
fn redis_cluster_values_are_durable_and_use_the_secret() {
    let m = manifests();
    let redis = yaml(REDIS_VALUES);
    assert_eq!(redis["usePassword"].as_bool(), Some(true));
    let secret = redis["existingSecret"].as_str().unwrap();
    let key = redis["existingSecretPasswordKey"].as_str().unwrap();
    let s = m
        .secrets
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(secret))
        .expect("Redis Secret in k8s/");
    assert!(
        s.string_data.as_ref().is_some_and(|d| d.contains_key(key))
            || s.data.as_ref().is_some_and(|d| d.contains_key(key))
    );
    // Appended to the chart's redis.conf, so these lines are the ones in force.
    let conf: Vec<&str> = redis["redis"]["configmap"]
        .as_str()
        .unwrap()
        .lines()
        .map(str::trim)
        .collect();
    for line in [
        "appendonly yes",
        "appendfsync no",
        "save \"\"",
        "cluster-node-timeout 500",
        "cluster-require-full-coverage no",
        "cluster-replica-validity-factor 1",
        "cluster-allow-replica-migration no",
        "min-replicas-to-write 1",
        "min-replicas-max-lag 10",
        "repl-diskless-sync-delay 0",
    ] {
        assert!(
            conf.contains(&line),
            "redis.configmap lacks `{line}`: {conf:?}"
        );
    }
    assert_eq!(redis["redis"]["useAOFPersistence"].as_str(), Some("yes"));
    assert_eq!(redis["persistence"]["enabled"].as_bool(), Some(true));
}

/// Three copies of every shard: a write is acknowledged once a replica has it and a master
/// with no replica online refuses writes, so one node of a shard down must leave two.
#[test]
fn each_redis_cluster_has_three_masters_with_two_replicas_each() {
    let redis = yaml(REDIS_VALUES);
    assert_eq!(redis["cluster"]["init"].as_bool(), Some(true));
    let nodes = redis["cluster"]["nodes"].as_u64().unwrap();
    let replicas = redis["cluster"]["replicas"].as_u64().unwrap();
    assert_eq!(
        nodes % (1 + replicas),
        0,
        "nodes must be masters x (1 + replicas)"
    );
    assert_eq!(nodes / (1 + replicas), 3, "three masters");
    assert_eq!(replicas, 2, "two replicas per master");
}

/// The deploy scripts install bitnami/redis-cluster once per service, named redis-<svc>
/// (fullnameOverride), which is what the services' REDIS_URL seeds are named after.
#[test]
fn deploy_scripts_install_one_redis_cluster_release_per_service() {
    let common =
        std::fs::read_to_string(k8s_manifests::repo_dir().join("helm-config/common.sh")).unwrap();
    for needle in [
        "for svc in order stock payment",
        "helm upgrade --install \"redis-$svc\" bitnami/redis-cluster",
        "-f \"$HERE/redis-cluster-values.yaml\"",
        "--set fullnameOverride=\"redis-$svc\"",
    ] {
        assert!(
            common.contains(needle),
            "helm-config/common.sh lacks {needle}"
        );
    }
}

//! docker-compose.yml's Redis Clusters are the ones the Helm values describe: as many nodes
//! per cluster, as many replicas per master, the same settings on every node; and every node
//! is wired in (a seed of its service's REDIS_URL, a host of the init's OPS_HOSTS, something
//! the init waits for, its own volume and its own address). The two files are edited by hand
//! and must never disagree on the contract.

use crate::budget::REDIS_VALUES;
use crate::{yaml, SERVICES};
use regex_lite::Regex;
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

const COMPOSE: &str = "docker-compose.yml";

/// `${VAR:-default}` as compose expands it with VAR unset.
fn with_defaults(s: &str) -> String {
    let var = Regex::new(r"\$\{[A-Z_]+:-([^}]*)\}").unwrap();
    var.replace_all(s, "$1").into_owned()
}

fn str_of(v: &Value) -> String {
    with_defaults(v.as_str().unwrap_or_else(|| panic!("not a string: {v:?}")))
}

/// The Redis node command's `--directive value` pairs, as redis.conf lines.
fn node_settings(compose: &Value) -> BTreeMap<String, String> {
    let command: Vec<String> = compose["x-redis"]["command"]
        .as_sequence()
        .expect("x-redis.command")
        .iter()
        .map(str_of)
        .collect();
    assert_eq!(command[0], "redis-server");
    command[1..]
        .chunks(2)
        .map(|pair| {
            let name = pair[0].strip_prefix("--").expect("--directive").to_string();
            let value = if pair[1].is_empty() { "\"\"" } else { &pair[1] };
            (name.clone(), format!("{name} {value}"))
        })
        .collect()
}

#[test]
fn compose_redis_nodes_have_the_helm_values_settings() {
    let settings = node_settings(&yaml(COMPOSE));
    let redis = yaml(REDIS_VALUES);
    let wanted = redis["redis"]["configmap"]
        .as_str()
        .unwrap()
        .lines()
        .map(str::trim);
    for line in wanted.filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let name = line.split_whitespace().next().unwrap();
        assert_eq!(
            settings.get(name).map(String::as_str),
            Some(line),
            "{COMPOSE}: the Redis node command differs from {REDIS_VALUES} on {name}"
        );
    }
}

#[test]
fn compose_redis_clusters_have_the_helm_values_topology_and_every_node_is_wired() {
    let compose = yaml(COMPOSE);
    let redis = yaml(REDIS_VALUES);
    assert_eq!(
        str_of(&compose["services"]["redis-cluster-init"]["environment"]["REDIS_REPLICAS"]),
        redis["cluster"]["replicas"].as_u64().unwrap().to_string(),
        "redis-cluster-init's REDIS_REPLICAS"
    );
    let nodes = redis["cluster"]["nodes"].as_u64().unwrap();
    for s in SERVICES {
        cluster_is_wired(&compose, s, nodes);
    }
}

/// Service `s`'s cluster is the containers redis-<s>-1 ..= nodes, each listed where it must
/// be: the init's OPS_HOSTS and depends_on, the service's REDIS_URL, a volume of its own.
fn cluster_is_wired(compose: &Value, s: &str, nodes: u64) {
    let services = compose["services"].as_mapping().unwrap();
    let prefix = format!("redis-{s}-");
    let names: BTreeSet<String> = services
        .keys()
        .filter_map(|k| k.as_str())
        .filter(|k| {
            k.strip_prefix(&prefix)
                .is_some_and(|n| n.parse::<u64>().is_ok())
        })
        .map(str::to_string)
        .collect();
    let expected: BTreeSet<String> = (1..=nodes).map(|n| format!("{prefix}{n}")).collect();
    assert_eq!(names, expected, "{s}: the cluster's containers");
    let hosts: BTreeSet<String> = expected.iter().map(|n| format!("{n}:6379")).collect();
    let init = &compose["services"]["redis-cluster-init"];
    let listed: BTreeSet<String> = str_of(&init["environment"]["OPS_HOSTS"])
        .split_whitespace()
        .find_map(|spec| spec.strip_prefix(&format!("{s}=")).map(str::to_string))
        .unwrap_or_else(|| panic!("OPS_HOSTS has no {s}="))
        .split(',')
        .map(str::to_string)
        .collect();
    assert_eq!(listed, hosts, "{s}: OPS_HOSTS of redis-cluster-init");
    let url = &compose["x-redis-urls"][s];
    let seeds: BTreeSet<String> = str_of(url)
        .split(',')
        .map(|u| u.rsplit_once('@').expect("user@host").1.to_string())
        .collect();
    assert_eq!(seeds, hosts, "{s}: REDIS_URL seeds");
    for replica in [1, 2].map(|n| format!("{s}-{n}")) {
        let env = &compose["services"][replica.as_str()]["environment"];
        assert_eq!(
            &env["REDIS_URL"], url,
            "{replica}: REDIS_URL is not x-redis-urls.{s}"
        );
    }
    for name in &expected {
        let node = &compose["services"][name.as_str()];
        assert!(
            init["depends_on"][name.as_str()].is_mapping(),
            "the init does not wait for {name}"
        );
        assert_eq!(
            node["volumes"][0].as_str(),
            Some(format!("{name}:/data").as_str())
        );
        assert!(compose["volumes"]
            .as_mapping()
            .unwrap()
            .contains_key(name.as_str()));
    }
}

/// nginx resolves its upstreams once and a restarted node keeps announcing its address: every
/// container has its own.
#[test]
fn every_compose_container_has_its_own_address() {
    let compose = yaml(COMPOSE);
    let mut seen = BTreeMap::new();
    for (name, svc) in compose["services"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        if let Some(addr) = svc["networks"]["wdm"]["ipv4_address"].as_str() {
            if let Some(other) = seen.insert(with_defaults(addr), name) {
                panic!("{name} and {other} have the same address {addr}");
            }
        }
    }
}

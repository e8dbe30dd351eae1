//! The fixtures are what redis-server 7.0.15 printed for a 3-master, 3-replica cluster:
//! whole, a master killed 0.3 s before (`pfail`: its link `disconnected`, no flag yet),
//! after the failover (`fail`, its replica promoted), and after it came back as a replica.

use super::*;

const WHOLE: &str = include_str!("fixtures/whole.nodes");
const PFAIL: &str = include_str!("fixtures/pfail.nodes");
const FAILED_OVER: &str = include_str!("fixtures/failedover.nodes");
const BACK: &str = include_str!("fixtures/back.nodes");
const OK_INFO: &str = include_str!("fixtures/ok.info");
const MASTER_REPL: &str = include_str!("fixtures/master.repl");
const REPLICA_REPL: &str = include_str!("fixtures/replica.repl");

fn probe(name: &str, nodes: &str, replication: &str) -> Probe {
    Probe {
        name: name.to_string(),
        ping: true,
        info: Some(OK_INFO.to_string()),
        nodes: Some(nodes.to_string()),
        replication: Some(replication.to_string()),
    }
}

#[test]
fn role_is_the_first_line_of_role() {
    assert_eq!(
        parse_role(include_str!("fixtures/master.role")).unwrap(),
        Role::Master
    );
    assert_eq!(
        parse_role(include_str!("fixtures/replica.role")).unwrap(),
        Role::Replica
    );
    assert_eq!(parse_role("\n  master\r\n0\n").unwrap(), Role::Master);
    assert!(parse_role("").is_err());
    assert!(parse_role("NOAUTH Authentication required.").is_err());
    assert!(parse_role("sentinel\n").is_err());
}

#[test]
fn cluster_nodes_lines_give_roles_masters_and_slots() {
    let view = parse_nodes(WHOLE);
    assert_eq!(view.len(), 6);
    let masters: Vec<u16> = view
        .iter()
        .filter(|n| n.is_master())
        .filter_map(NodeLine::port)
        .collect();
    assert_eq!(masters, vec![8401, 8400, 8402]);
    assert!(view.iter().all(|n| n.is_master() == n.serves_slots));
    assert!(view.iter().all(|n| !n.failing()));
    let replica = view.iter().find(|n| n.port() == Some(8403)).unwrap();
    let master = view.iter().find(|n| n.port() == Some(8401)).unwrap();
    assert_eq!(replica.master.as_deref(), Some(master.id.as_str()));
    assert_eq!(
        NodeLine {
            addr: "10.213.7.12:6379@16379,redis-stock-2".into(),
            ..replica.clone()
        }
        .port(),
        Some(6379)
    );
}

#[test]
fn info_fields_are_read_by_name() {
    assert_eq!(info_field(OK_INFO, "cluster_state"), Some("ok"));
    assert_eq!(info_field(OK_INFO, "cluster_slots_ok"), Some("16384"));
    assert_eq!(info_field(REPLICA_REPL, "master_link_status"), Some("up"));
    assert_eq!(info_field("a:1\r\nb:2\r\n", "b"), Some("2"));
    assert_eq!(info_field(OK_INFO, "cluster"), None);
}

#[test]
fn a_whole_cluster_is_whole() {
    let probes = [
        probe("redis-stock-1", WHOLE, MASTER_REPL),
        probe("redis-stock-4", WHOLE, REPLICA_REPL),
    ];
    assert_eq!(not_whole(&probes), None);
    assert_eq!(
        not_whole(&[probe("redis-stock-1", BACK, MASTER_REPL)]),
        None
    );
}

#[test]
fn a_master_killed_a_moment_ago_is_seen_disconnected() {
    let why = not_whole(&[probe("redis-stock-1", PFAIL, MASTER_REPL)]).unwrap();
    assert!(
        why.contains("8401") && why.contains("disconnected"),
        "{why}"
    );
}

#[test]
fn after_the_failover_the_dead_node_is_failing_and_the_new_master_has_no_replica() {
    let why = not_whole(&[probe("redis-stock-1", FAILED_OVER, MASTER_REPL)]).unwrap();
    assert!(why.contains("master,fail"), "{why}");
    let without_dead: String = FAILED_OVER
        .lines()
        .filter(|l| !l.contains("fail"))
        .map(|l| format!("{l}\n"))
        .collect();
    let why = not_whole(&[probe("redis-stock-1", &without_dead, MASTER_REPL)]).unwrap();
    assert!(
        why.contains("master 127.0.0.1:8403") && why.contains("no replica"),
        "{why}"
    );
}

#[test]
fn a_node_that_does_not_answer_or_is_not_ok_keeps_it_unwhole() {
    let silent = parse_probe("redis-stock-2", None);
    let why = not_whole(&[probe("redis-stock-1", WHOLE, MASTER_REPL), silent]).unwrap();
    assert_eq!(why, "redis-stock-2 does not answer PING");
    let mut fail = probe("redis-stock-3", WHOLE, MASTER_REPL);
    fail.info = Some(OK_INFO.replace("cluster_state:ok", "cluster_state:fail"));
    assert_eq!(
        not_whole(&[fail]).unwrap(),
        "redis-stock-3: cluster_state:fail"
    );
    let mut partial = probe("redis-stock-3", WHOLE, MASTER_REPL);
    partial.info = Some(OK_INFO.replace("cluster_slots_ok:16384", "cluster_slots_ok:10923"));
    assert!(not_whole(&[partial]).unwrap().contains("10923"));
}

#[test]
fn a_replica_still_syncing_keeps_it_unwhole() {
    let syncing = REPLICA_REPL.replace("master_link_status:up", "master_link_status:down");
    let why = not_whole(&[probe("redis-stock-2", BACK, &syncing)]).unwrap();
    assert_eq!(why, "redis-stock-2: master_link_status:down");
}

#[test]
fn a_cluster_of_masters_only_needs_no_replica() {
    let masters: String = WHOLE
        .lines()
        .filter(|l| !l.contains("slave"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        not_whole(&[probe("redis-order-1", &masters, MASTER_REPL)]),
        None
    );
}

#[test]
fn a_probe_splits_into_its_four_answers() {
    let out = format!("PONG\n{MARK}\n{OK_INFO}\n{MARK}\n{WHOLE}{MARK}\n{REPLICA_REPL}");
    let p = parse_probe("redis-stock-4", Some(&out));
    assert!(p.ping);
    assert_eq!(parse_nodes(p.nodes.as_deref().unwrap()).len(), 6);
    assert_eq!(not_whole(&[p]), None);
    let refused = format!("Could not connect to Redis\n{MARK}\n{MARK}\n{MARK}\n");
    let p = parse_probe("redis-stock-4", Some(&refused));
    assert!(!p.ping && p.info.is_none() && p.nodes.is_none());
    assert!(probe_script().matches(MARK).count() == 3);
}

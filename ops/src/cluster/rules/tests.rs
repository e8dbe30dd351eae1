//! The fixtures are what redis-server 7.0.15 printed for a 3-master, 3-replica cluster on
//! ports 8400-8405 (as seen by 8400): whole, a master (8401) killed 0.3 s before (`pfail`:
//! its link `disconnected`, no flag yet), after the failover (`fail`, its replica 8403
//! promoted), and after it came back as a replica of 8403 (`back`).

use super::*;

const WHOLE: &str = include_str!("fixtures/whole.nodes");
const PFAIL: &str = include_str!("fixtures/pfail.nodes");
const FAILED_OVER: &str = include_str!("fixtures/failedover.nodes");
const BACK: &str = include_str!("fixtures/back.nodes");
const OK_INFO: &str = include_str!("fixtures/ok.info");
const MASTER_REPL: &str = include_str!("fixtures/master.repl");
const REPLICA_REPL: &str = include_str!("fixtures/replica.repl");

const SIX: Topology = Topology {
    masters: 3,
    replicas: 1,
};

/// `nodes` as the node on `port` prints it: `myself` on its own line.
fn seen_by(nodes: &str, port: u16) -> String {
    nodes
        .lines()
        .map(|l| {
            let l = l.replace("myself,", "");
            let mine = l
                .split_whitespace()
                .nth(1)
                .unwrap()
                .starts_with(&format!("127.0.0.1:{port}@"));
            let l = if mine {
                let f: Vec<&str> = l.split(' ').collect();
                let mut f: Vec<String> = f.iter().map(|s| s.to_string()).collect();
                f[2] = format!("myself,{}", f[2]);
                f.join(" ")
            } else {
                l
            };
            format!("{l}\n")
        })
        .collect()
}

/// The probe of the node on `port` of the cluster `nodes` describes.
fn node(nodes: &str, port: u16) -> Probe {
    let view = seen_by(nodes, port);
    let me = parse_nodes(&view)
        .into_iter()
        .find(NodeLine::is_myself)
        .unwrap();
    let replication = if me.is_master() {
        MASTER_REPL.to_string()
    } else {
        REPLICA_REPL.to_string()
    };
    Probe {
        name: format!("redis-stock-{}", port - 8399),
        ping: true,
        info: Some(OK_INFO.to_string()),
        nodes: Some(view),
        replication: Some(replication),
    }
}

fn cluster(nodes: &str) -> Vec<Probe> {
    (8400..8406).map(|port| node(nodes, port)).collect()
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
    assert!(view.iter().all(|n| n.is_master() == n.serves_slots()));
    assert!(view.iter().all(|n| !n.failing()));
    let replica = view.iter().find(|n| n.port() == Some(8403)).unwrap();
    let master = view.iter().find(|n| n.port() == Some(8401)).unwrap();
    assert_eq!(replica.master.as_deref(), Some(master.id.as_str()));
    assert_eq!(master.slots, vec![(5461, 10922)]);
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
fn slot_lists_keep_single_slots_and_skip_migrations() {
    let line = "a 127.0.0.1:1@2 master - 0 0 1 connected 0-10 12 [13->-b] 20-30\n";
    let n = &parse_nodes(line)[0];
    assert_eq!(n.slots, vec![(0, 10), (12, 12), (20, 30)]);
    assert_eq!(n.slot_list(), "0-10 12 20-30");
    assert!(n.serves(12) && n.serves(25) && !n.serves(11) && !n.serves(13));
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
fn a_whole_cluster_is_whole_and_so_is_it_after_the_dead_master_came_back() {
    assert_eq!(not_whole(&cluster(WHOLE), SIX), None);
    assert_eq!(not_whole(&cluster(BACK), SIX), None);
}

#[test]
fn a_master_killed_a_moment_ago_is_seen_disconnected() {
    let mut probes = cluster(PFAIL);
    probes[1] = Probe::silent("redis-stock-2");
    let why = not_whole(&probes, SIX).unwrap();
    assert_eq!(
        why,
        "redis-stock-1 sees 127.0.0.1:8401@18401 as master (disconnected)"
    );
    // The node itself, when asked first, does not answer.
    probes.swap(0, 1);
    assert_eq!(
        not_whole(&probes, SIX).unwrap(),
        "redis-stock-2 does not answer"
    );
}

#[test]
fn after_the_failover_the_dead_node_is_failing() {
    let why = node_problem(&node(FAILED_OVER, 8400), None).unwrap();
    assert_eq!(
        why,
        "redis-stock-1 sees 127.0.0.1:8401@18401 as master,fail (disconnected)"
    );
}

#[test]
fn a_cluster_short_of_a_node_or_of_masters_is_not_whole() {
    // Without the dead node: 8403 leads 5461-10922 and has no replica.
    let without_dead: String = FAILED_OVER
        .lines()
        .filter(|l| !l.contains("fail"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut probes: Vec<Probe> = [8400, 8402, 8403, 8404, 8405]
        .into_iter()
        .map(|port| node(&without_dead, port))
        .collect();
    for p in &mut probes {
        p.info = Some(OK_INFO.replace("cluster_known_nodes:6", "cluster_known_nodes:5"));
    }
    let five = Topology::of(5, 0).unwrap();
    assert_eq!(not_whole(&probes, five).unwrap(), "3 of 5 masters");
    probes.push(Probe::silent("redis-stock-2"));
    assert_eq!(
        not_whole(&probes, SIX).unwrap(),
        "redis-stock-1 knows 5 of 6 nodes"
    );
}

#[test]
fn a_master_short_of_its_replicas_keeps_it_unwhole() {
    let view = parse_nodes(WHOLE);
    let id = |port| {
        view.iter()
            .find(|n| n.port() == Some(port))
            .unwrap()
            .id
            .clone()
    };
    let mut probes = cluster(WHOLE);
    // 8403 follows 8400 instead of 8401: 8401 (redis-stock-2) has none.
    let moved = probes[3].nodes.as_deref().unwrap().replace(
        &format!("slave {}", id(8401)),
        &format!("slave {}", id(8400)),
    );
    probes[3].nodes = Some(moved);
    assert_eq!(
        not_whole(&probes, SIX).unwrap(),
        "redis-stock-2 has 0 of 1 replicas"
    );
}

#[test]
fn a_node_that_does_not_answer_or_is_not_ok_keeps_it_unwhole() {
    let mut probes = cluster(WHOLE);
    probes[1] = Probe::silent("redis-stock-2");
    assert_eq!(
        not_whole(&probes, SIX).unwrap(),
        "redis-stock-2 does not answer"
    );
    let mut probes = cluster(WHOLE);
    probes[2].info = Some(OK_INFO.replace("cluster_state:ok", "cluster_state:fail"));
    assert_eq!(
        not_whole(&probes, SIX).unwrap(),
        "redis-stock-3: cluster_state fail"
    );
    let mut probes = cluster(WHOLE);
    probes[2].info = Some(OK_INFO.replace("cluster_slots_ok:16384", "cluster_slots_ok:10923"));
    assert_eq!(
        not_whole(&probes, SIX).unwrap(),
        "redis-stock-3: 10923 of 16384 slots served"
    );
    assert_eq!(
        not_whole(&probes[..5], SIX).unwrap(),
        "5 nodes, 3 masters x 1 replicas needs 6"
    );
}

#[test]
fn a_replica_still_syncing_keeps_it_unwhole() {
    let mut probes = cluster(BACK);
    let syncing = REPLICA_REPL.replace("master_link_status:up", "master_link_status:down");
    probes[1].replication = Some(syncing);
    assert_eq!(
        not_whole(&probes, SIX).unwrap(),
        "redis-stock-2: link to its master down"
    );
    assert_eq!(
        node_problem(&probes[1], None).unwrap(),
        "redis-stock-2: link to its master down"
    );
}

#[test]
fn a_cluster_of_masters_only_needs_no_replica() {
    let masters: String = WHOLE
        .lines()
        .filter(|l| !l.contains("slave"))
        .map(|l| format!("{l}\n"))
        .collect();
    let mut probes: Vec<Probe> = [8400, 8401, 8402]
        .into_iter()
        .map(|port| node(&masters, port))
        .collect();
    for p in &mut probes {
        p.info = Some(OK_INFO.replace("cluster_known_nodes:6", "cluster_known_nodes:3"));
    }
    let three = Topology {
        masters: 3,
        replicas: 0,
    };
    assert_eq!(not_whole(&probes, three), None);
    // The same three nodes as one data master with two replicas: two masters too many
    // (and two nodes too few: the two witnesses).
    let one_with_two = Topology::of(5, 2).unwrap();
    assert_eq!(one_with_two, Topology::DEFAULT);
    assert_eq!(
        not_whole(&probes, one_with_two).unwrap(),
        "3 nodes, 1 masters x 2 replicas + 2 witness masters needs 5"
    );
    assert!(Topology::of(3, 2).is_err());
    assert!(Topology::of(3, 1).is_err());
    assert_eq!(Topology::of(9, 2), Ok(Topology::SPREAD));
}

#[test]
fn the_master_of_a_slot_is_the_live_master_serving_it() {
    let view = parse_nodes(WHOLE);
    assert_eq!(
        master_of_slot(&view, 0).and_then(NodeLine::port),
        Some(8400)
    );
    assert_eq!(
        master_of_slot(&view, 5461).and_then(NodeLine::port),
        Some(8401)
    );
    assert_eq!(
        master_of_slot(&view, 16383).and_then(NodeLine::port),
        Some(8402)
    );
    // Before the failover the dead master still holds its slots but is not their master.
    let pfail = parse_nodes(PFAIL);
    assert_eq!(master_of_slot(&pfail, 6000), None);
    let after = parse_nodes(FAILED_OVER);
    assert_eq!(
        master_of_slot(&after, 6000).and_then(NodeLine::port),
        Some(8403)
    );
}

#[test]
fn the_master_of_a_slot_is_the_one_most_nodes_name() {
    // After the failover of 8401, every node names 8403 for slot 6000.
    let mut probes = cluster(FAILED_OVER);
    let named = |probes: &[Probe]| master_named_most(probes, 6000).and_then(|m| m.port());
    assert_eq!(named(&probes), Some(8403));
    // The first node is behind: it still sees the dead master as only suspected (no
    // master for the slot), or it is the old master itself, healed a moment ago, naming
    // itself. The others outvote it.
    probes[0] = node(PFAIL, 8400);
    assert_eq!(named(&probes), Some(8403));
    probes[0] = node(WHOLE, 8401);
    assert_eq!(named(&probes), Some(8403));
    // Nodes that do not answer have no say; no view with a live master: none.
    let silent: Vec<Probe> = probes.iter().map(|p| Probe::silent(&p.name)).collect();
    assert_eq!(named(&silent), None);
    assert_eq!(named(&[node(PFAIL, 8400), node(PFAIL, 8402)]), None);
}

#[test]
fn the_replicas_of_a_master_are_its_live_followers() {
    let view = parse_nodes(WHOLE);
    let m = view.iter().find(|n| n.port() == Some(8401)).unwrap();
    let ports: Vec<u16> = replicas_of(&view, &m.id)
        .filter_map(NodeLine::port)
        .collect();
    assert_eq!(ports, vec![8403]);
    let back = parse_nodes(BACK);
    let m = back.iter().find(|n| n.port() == Some(8403)).unwrap();
    let ports: Vec<u16> = replicas_of(&back, &m.id)
        .filter_map(NodeLine::port)
        .collect();
    assert_eq!(ports, vec![8401]);
}

#[test]
fn nodes_in_a_role_are_those_that_say_so_and_answer() {
    let mut probes = cluster(WHOLE);
    probes[0] = Probe::silent("redis-stock-1");
    let masters: Vec<&str> = in_role(&probes, Role::Master)
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(masters, vec!["redis-stock-2", "redis-stock-3"]);
    let replicas: Vec<&str> = in_role(&probes, Role::Replica)
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(
        replicas,
        vec!["redis-stock-4", "redis-stock-5", "redis-stock-6"]
    );
    assert_eq!("slave".parse(), Ok(Role::Replica));
    assert!("sentinel".parse::<Role>().is_err());
}

#[test]
fn status_names_a_replicas_master() {
    let probes = cluster(BACK);
    let name_of = |id: &str| {
        probes
            .iter()
            .find(|p| p.myself().is_some_and(|m| m.id == id))
            .map(|p| p.name.clone())
    };
    assert_eq!(probes[0].summary(name_of), "master, slots 0-5460");
    assert_eq!(
        probes[1].summary(name_of),
        "replica of redis-stock-4 (link up)"
    );
    assert_eq!(Probe::silent("x").summary(name_of), "not answering");
}

#[test]
fn fresh_nodes_are_created_together_or_not_at_all() {
    let fresh_info = "cluster_state:fail\ncluster_slots_assigned:0\ncluster_known_nodes:1\n";
    let fresh = |name: &str| Probe {
        name: name.into(),
        ping: true,
        info: Some(fresh_info.into()),
        ..Probe::default()
    };
    let all = [fresh("a"), fresh("b")];
    assert_eq!(freshness(&all), Freshness::AllFresh);
    assert_eq!(freshness(&cluster(WHOLE)), Freshness::Created);
    let mut mixed = cluster(WHOLE);
    mixed[5] = fresh("f");
    assert_eq!(freshness(&mixed), Freshness::Mixed { fresh: 1 });
    // A node that does not answer is not fresh.
    assert_eq!(
        freshness(&[fresh("a"), Probe::silent("b")]),
        Freshness::Mixed { fresh: 1 }
    );
}

#[test]
fn a_layout_shares_the_slots_and_spreads_the_replicas() {
    let l = layout(SIX);
    assert_eq!(
        l.slots,
        vec![(0, 0, 5460), (1, 5461, 10921), (2, 10922, 16383)]
    );
    assert_eq!(l.replicas, vec![(3, 0), (4, 1), (5, 2)]);
    let one = layout(Topology {
        masters: 1,
        replicas: 0,
    });
    assert_eq!(one.slots, vec![(0, 0, 16383)]);
    assert!(one.replicas.is_empty());
    let two = layout(Topology {
        masters: 2,
        replicas: 2,
    });
    // Two data masters and one witness, serving both witness slots.
    assert_eq!(
        two.slots,
        vec![(0, 0, 8190), (1, 8191, 16381), (6, 16382, 16383)]
    );
    assert_eq!(two.replicas, vec![(2, 0), (3, 1), (4, 0), (5, 1)]);
    // The default: one data master, its replicas 1 and 2, witnesses 3 and 4.
    let default = layout(Topology::DEFAULT);
    assert_eq!(
        default.slots,
        vec![(0, 0, 16381), (3, 16382, 16382), (4, 16383, 16383)]
    );
    assert_eq!(default.replicas, vec![(1, 0), (2, 0)]);
    assert_eq!(Topology::DEFAULT.nodes(), 5);
    assert_eq!(layout(Topology::SPREAD).slots.len(), 3);
}

#[test]
fn witnesses_make_three_voters_where_a_failover_is_wanted() {
    let t = |masters, replicas| Topology { masters, replicas }.witnesses();
    assert_eq!((t(1, 2), t(2, 1), t(3, 2), t(5, 1)), (2, 1, 0, 0));
    // Without replicas there is no failover to vote for.
    assert_eq!(t(1, 0), 0);
    let witness = |slots: &str| {
        let line = format!("abc 127.0.0.1:1@2 master - 0 0 1 connected {slots}");
        is_witness(&parse_nodes(&line)[0])
    };
    assert!(witness("16382"));
    assert!(witness("16382-16383"));
    assert!(!witness("0-16381"));
    assert!(!witness("16381-16383"));
    assert!(!witness(""));
}

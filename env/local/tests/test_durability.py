#!/usr/bin/env python3
"""The durability test's reading of a cluster (env/local/durability_test.py), on what
redis-server 7.0.15 printed for a 3-master, 3-replica cluster (the consistency test's
fixtures): python3 env/local/tests/test_durability.py"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import durability_test as d  # noqa: E402

FIXTURES = os.path.join(HERE, "..", "..", "..", "consistency-test", "src", "chaos", "cluster", "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return f.read()


class FakeNode(d.Node):
    """A node whose answers are fixed: {command words: output}."""

    def __init__(self, name, answers):
        super().__init__(name, [], [], None, None)
        self.answers = answers

    def run(self, *commands):
        return [self.answers.get(tuple(c), "") for c in commands]


def node(name, nodes, repl="master.repl", myid=None):
    return FakeNode(name, {("ping",): "PONG", ("cluster", "info"): fixture("ok.info"),
                           ("cluster", "nodes"): fixture(nodes), ("info", "replication"): fixture(repl),
                           ("cluster", "keyslot", "item:{a}"): "15495", ("cluster", "myid"): myid or ""})


class ClusterReading(unittest.TestCase):
    def test_slot_ranges_masters_and_replicas_are_read(self):
        view = d.parse_nodes(fixture("whole.nodes"))
        self.assertEqual(len(view), 6)
        masters = [v for v in view if "master" in v["flags"]]
        self.assertEqual(sorted(m["slots"] for m in masters), [[(0, 5460)], [(5461, 10922)], [(10923, 16383)]])
        self.assertFalse(any(d.failing(v) for v in view))
        self.assertEqual(sum(v["master"] is not None for v in view), 3)

    def test_a_dead_master_is_failing_before_and_after_it_is_flagged(self):
        for nodes in ("pfail.nodes", "failedover.nodes"):
            dead = [v for v in d.parse_nodes(fixture(nodes)) if d.failing(v)]
            self.assertEqual([v["addr"] for v in dead], ["127.0.0.1:8401@18401"], nodes)

    def test_the_owner_of_a_slot_is_the_master_serving_it(self):
        ids = {v["addr"].split("@")[0]: v["id"] for v in d.parse_nodes(fixture("whole.nodes"))}
        nodes = [node(f"redis-stock-{p - 8399}", "whole.nodes", myid=ids[f"127.0.0.1:{p}"]) for p in range(8400, 8406)]
        cluster = d.Cluster("stock", nodes)
        self.assertEqual(cluster.slot("item:{a}"), 15495)
        owner = cluster.owner("item:{a}")
        self.assertEqual(owner.name, "redis-stock-3")  # 8402 serves 10923-16383
        self.assertEqual(cluster.replica_of(owner).name, "redis-stock-5")  # 8404 replicates 8402

    def test_whole_is_whole_and_a_dead_node_or_an_orphan_master_is_not(self):
        self.assertIsNone(d.Cluster("stock", [node("a", "whole.nodes"), node("b", "back.nodes", "replica.repl")]).not_whole())
        self.assertIn("failing", d.Cluster("stock", [node("a", "pfail.nodes")]).not_whole())
        orphan = FakeNode("a", dict(node("a", "whole.nodes").answers))
        orphan.answers[("cluster", "nodes")] = "".join(
            line + "\n" for line in fixture("failedover.nodes").splitlines() if "fail" not in line)
        self.assertIn("has no replica", d.Cluster("stock", [orphan]).not_whole())
        syncing = node("b", "back.nodes", "replica.repl")
        syncing.answers[("info", "replication")] = fixture("replica.repl").replace("link_status:up", "link_status:down")
        self.assertIn("master_link_status:down", d.Cluster("stock", [syncing]).not_whole())
        silent = FakeNode("c", {})
        self.assertEqual(d.Cluster("stock", [silent]).not_whole(), "c does not answer")


if __name__ == "__main__":
    unittest.main()

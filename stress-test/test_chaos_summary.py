#!/usr/bin/env python3
"""The chaos report's judgement on made-up samples (standard library only):
python3 stress-test/test_chaos_summary.py"""

import unittest

from chaos_summary import Kill, Sample, judge, longest_gap, p99


def ok(end, service="order", latency=0.01):
    return Sample(end - latency, end, "checkout", service, "200", True)


def err(end, status="503", service="order"):
    return Sample(end - 0.01, end, "checkout", service, status, False)


def stalled(samples, frm, to, service=None):
    """The samples of `service` (all: None) sent in (frm, to) answered only at `to`."""
    return [Sample(s.start, to, s.kind, s.service, s.status, s.ok)
            if frm < s.start < to and service in (None, s.service) else s for s in samples]


def steady(start, end, step=0.05):
    n = int(round((end - start) / step))
    return [ok(start + i * step, svc) for i in range(n) for svc in ("order", "stock", "payment")]


class Gaps(unittest.TestCase):
    def test_gap_counts_from_the_first_request_sent_to_the_next_success(self):
        every_10ms = [i / 100 for i in range(0, 500)]
        self.assertAlmostEqual(longest_gap([], every_10ms, 1.0, 4.0), 3.0)
        self.assertAlmostEqual(longest_gap([1.5, 2.0, 3.9], every_10ms, 1.0, 4.0), 1.9)
        self.assertAlmostEqual(longest_gap([0.5, 2.0, 9.0], every_10ms, 1.0, 4.0), 2.0)

    def test_time_in_which_nothing_was_sent_is_no_gap(self):
        # Sent at 1.0 (answered at 1.01), then nothing until 2.0 (answered at 2.05).
        self.assertAlmostEqual(longest_gap([1.01, 2.05], [1.0, 2.0], 1.0, 2.05), 0.05)

    def test_p99_is_nearest_rank(self):
        self.assertEqual(p99([]), 0.0)
        self.assertEqual(p99(range(1, 101)), 99)
        self.assertEqual(p99([5]), 5)


class Judge(unittest.TestCase):
    def test_a_replica_kill_without_pause_or_error_passes(self):
        k = Kill("order-1", "service replica", called=5.0, killed=5.2, recovered=8.0, settled=12.0)
        v = judge(steady(0, 13), [k], 13)[0]
        self.assertTrue(v.passed, v.why)
        self.assertEqual(v.errors, 0)
        self.assertLess(v.gap, 0.1)

    def test_one_stalled_service_fails_a_replica_kill_even_while_others_answer(self):
        samples = sorted(stalled(steady(0, 13), 6.0, 7.0, "stock"), key=lambda s: s.end)
        k = Kill("stock-1", "service replica", called=5.0, killed=5.2, recovered=8.0, settled=12.0)
        v = judge(samples, [k], 13)[0]
        self.assertFalse(v.passed)
        self.assertEqual(v.gap_service, "stock")
        self.assertAlmostEqual(v.gap, 0.96, places=2)  # first sent at 6.04

    def test_errors_belong_to_the_kill_before_them_even_after_its_settle(self):
        kills = [
            Kill("order-1", "service replica", 5.0, 5.2, 8.0, 12.0),
            Kill("redis-order", "redis (single)", 12.0, 12.2, 15.0, 19.0),
        ]
        samples = steady(0, 20) + [err(11.0), err(12.5, "conn"), err(25.0, "timeout")]
        first, second = judge(sorted(samples, key=lambda s: s.end), kills, 25)
        self.assertEqual((first.errors, second.errors), (1, 2))
        self.assertEqual(second.error_kinds, "conn x1, timeout x1")
        self.assertFalse(first.passed)

    def test_a_redis_failover_within_three_seconds_passes(self):
        samples = sorted(stalled(steady(0, 20), 6.0, 8.0), key=lambda s: s.end)
        k = Kill("redis-order-1", "redis master", 5.0, 5.2, 10.0, 14.0)
        v = judge(samples, [k], 20)[0]
        self.assertTrue(v.passed, v.why)
        self.assertAlmostEqual(v.gap, 1.96, places=2)

    def test_p99_covers_requests_in_flight_during_the_kill_and_no_others(self):
        # Started before the kill, answered after it: they count.
        stalled = [Sample(4.0, 9.0, "checkout", "order", "200", True) for _ in range(5)]
        # Slow, but over before the kill: they do not.
        before = [Sample(0.0, 4.9, "checkout", "order", "200", True) for _ in range(50)]
        k = Kill("order-1", "service replica", 5.0, 5.2, 8.0, 12.0)
        samples = sorted(steady(0, 13) + stalled + before, key=lambda s: s.end)
        self.assertAlmostEqual(judge(samples, [k], 13)[0].p99, 5.0)
        samples = sorted(steady(0, 13) + before, key=lambda s: s.end)
        self.assertAlmostEqual(judge(samples, [k], 13)[0].p99, 0.01)


if __name__ == "__main__":
    unittest.main()

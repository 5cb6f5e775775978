"""The stats port: one JSON object, nutcracker's shape field for field (so
existing collectors keep working), with counters that move with traffic."""

import socket
import time

import pytest

import ketchtest as kt


@pytest.fixture
def stats_proxy(cluster):
    mcs = cluster.memcached(2)
    fake = cluster.silent()
    p = cluster.proxy({
        "alpha": {"hash": "fnv1a_64", "distribution": "ketama", "timeout": 2000,
                  "servers": [kt.server_line(m, 1, "a%d" % (i + 1)) for i, m in enumerate(mcs)]},
        "beta": {"servers": [kt.server_line(m) for m in mcs]},
        "gamma": {"timeout": 200, "servers": [kt.server_line(fake, 1, "silent")]},
    }, stats_interval_ms=100)
    return p, mcs


def _servers(pool_stats):
    return {k: v for k, v in pool_stats.items() if k not in kt.POOL_FIELDS}


def test_top_level_fields(stats_proxy):
    p, _ = stats_proxy
    st = p.stats()
    assert set(st) == kt.TOP_FIELDS | {"alpha", "beta", "gamma"}
    for f in ("service", "source", "version"):
        assert isinstance(st[f], str) and st[f], f
    assert st["source"] == socket.gethostname()
    for f in ("uptime", "timestamp", "total_connections", "curr_connections"):
        assert type(st[f]) is int and st[f] >= 0, f
    assert abs(st["timestamp"] - time.time()) < 120
    assert st["uptime"] < 120


def test_pool_and_server_fields(stats_proxy):
    p, mcs = stats_proxy
    st = p.stats()
    for pool, names in (("alpha", {"a1", "a2"}),
                        ("beta", {"127.0.0.1:%d" % m.port for m in mcs}),
                        ("gamma", {"silent"})):
        assert set(st[pool]) == kt.POOL_FIELDS | names, pool
        for f in kt.POOL_FIELDS:
            assert type(st[pool][f]) is int, (pool, f)
        for name, server in _servers(st[pool]).items():
            assert set(server) == kt.SERVER_FIELDS, (pool, name)
            for f in kt.SERVER_FIELDS:
                assert type(server[f]) is int and server[f] >= 0, (pool, name, f)


def test_stats_port_answers_every_connection(stats_proxy):
    p, _ = stats_proxy
    for _ in range(5):
        assert set(p.stats()) >= kt.TOP_FIELDS


def _sum(st, pool, field):
    return sum(s[field] for s in _servers(st[pool]).values())


def test_counters_move_with_traffic(stats_proxy):
    p, _ = stats_proxy
    before = p.stats()
    keys = kt.make_keys(50, "stats")
    with p.conn("alpha") as c:
        c.send(b"".join(kt.storage_line("set", k, b"v" * 100) for k in keys))
        assert [c.readline() for _ in keys] == [b"STORED\r\n"] * len(keys)
        for k in keys:
            assert c.get(k) == b"v" * 100

        def moved():
            st = p.stats()
            ok = (_sum(st, "alpha", "requests") >= _sum(before, "alpha", "requests") + 100
                  and _sum(st, "alpha", "responses") >= _sum(before, "alpha", "responses") + 100
                  and st["alpha"]["client_connections"] >= 1
                  and st["curr_connections"] >= 1)
            return st if ok else None

        st = kt.wait_until(moved)
        assert st, "requests/responses did not grow: %r" % p.stats()["alpha"]
        assert _sum(st, "alpha", "request_bytes") >= _sum(before, "alpha", "request_bytes") + 5000
        assert _sum(st, "alpha", "response_bytes") >= _sum(before, "alpha", "response_bytes") + 5000
        assert all(s["requests"] > 0 for s in _servers(st["alpha"]).values()), \
            "both servers took traffic"
        assert all(s["server_connections"] >= 1 for s in _servers(st["alpha"]).values())
        assert st["total_connections"] > before["total_connections"]
        # the other pools saw none of it
        assert _sum(st, "beta", "requests") == _sum(before, "beta", "requests")

    after = kt.wait_until(lambda: (lambda s: s if s["alpha"]["client_eof"] >
                                   before["alpha"]["client_eof"] else None)(p.stats()))
    assert after, "client_eof did not count the closed connection"


def test_timeouts_are_counted(stats_proxy):
    p, _ = stats_proxy
    with p.conn("gamma") as c:
        reply = c.call("get stats:timeout")
        assert reply.startswith(b"SERVER_ERROR"), reply
    st = kt.wait_until(lambda: (lambda s: s if s["gamma"]["silent"]["server_timedout"] >= 1
                                else None)(p.stats()))
    assert st, "server_timedout did not move: %r" % p.stats()["gamma"]
    assert st["gamma"]["silent"]["requests"] >= 1

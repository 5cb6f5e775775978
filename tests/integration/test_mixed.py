"""One proxy process serving a memcached pool and a Redis pool at once: each
listener speaks its own protocol to its own servers, with real client
libraries on both, at the same time, and the stats port shows both pools."""

import threading

import pytest

import ketchtest as kt


@pytest.fixture
def mixed(cluster):
    if kt.redis_bin() is None:
        pytest.skip("redis-server not found (Debian: apt-get install redis-server)")
    mcs = cluster.memcached(2, prefix="mixmc")
    rs = cluster.redis(2, prefix="mixredis")
    proxy = cluster.proxy({
        "cache": {"hash": "fnv1a_64", "distribution": "ketama", "timeout": 3000,
                  "servers": [kt.server_line(m, 1, "mc%d" % (i + 1)) for i, m in enumerate(mcs)]},
        "store": {"redis": True, "hash": "fnv1a_64", "distribution": "ketama", "timeout": 3000,
                  "servers": [kt.server_line(r, 1, "rd%d" % (i + 1)) for i, r in enumerate(rs)]},
    }, stats_interval_ms=100)
    return proxy, mcs, rs


def _pymemcache(proxy):
    base = pytest.importorskip("pymemcache.client.base")
    return base.Client(("127.0.0.1", proxy.ports["cache"]), connect_timeout=5, timeout=5)


def _redis(proxy):
    redis = pytest.importorskip("redis")
    return redis.Redis(host="127.0.0.1", port=proxy.ports["store"],
                       socket_timeout=kt.IO_TIMEOUT_S, socket_connect_timeout=kt.IO_TIMEOUT_S)


def test_both_protocols_on_one_process(mixed, tag):
    proxy, mcs, rs = mixed
    keys = kt.make_keys(200, tag)
    mc, r = _pymemcache(proxy), _redis(proxy)
    try:
        assert mc.set_many({k: b"mc-" + k.encode() for k in keys}, noreply=False) == []
        assert r.mset({k: b"redis-" + k.encode() for k in keys}) is True
        assert mc.get_many(keys) == {k: b"mc-" + k.encode() for k in keys}
        assert r.mget(keys) == [b"redis-" + k.encode() for k in keys]
        assert mc.incr(tag + ":n", 1) is None
        assert r.incr(tag + ":n") == 1
        assert r.lpush(tag + ":list", "a", "b") == 2
    finally:
        mc.close()
        r.close()
    # each pool's keys are on its own servers, spread over both
    mc_found = [m.present(keys) for m in mcs]
    assert all(mc_found) and set().union(*mc_found) == {k.encode() for k in keys}
    rd_found = [x.present(keys) for x in rs]
    assert all(rd_found) and set().union(*rd_found) == {k.encode() for k in keys}
    for m in mcs:
        assert m.present([tag + ":n", tag + ":list"]) == set()


def test_both_protocols_concurrently(mixed, tag):
    proxy, _, _ = mixed
    errors = []

    def mc_worker(n):
        try:
            c = _pymemcache(proxy)
            try:
                for i in range(300):
                    k = "%s:mc%d:%d" % (tag, n, i)
                    c.set(k, k.encode(), noreply=False)
                    assert c.get(k) == k.encode()
            finally:
                c.close()
        except Exception as e:  # reported below
            errors.append(e)

    def redis_worker(n):
        try:
            r = _redis(proxy)
            try:
                for i in range(300):
                    k = "%s:rd%d:%d" % (tag, n, i)
                    p = r.pipeline(transaction=False)
                    p.set(k, k)
                    p.get(k)
                    p.incr(tag + ":counter")
                    res = p.execute()
                    assert res[:2] == [True, k.encode()]
            finally:
                r.close()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=f, args=(n,)) for n in range(4)
               for f in (mc_worker, redis_worker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    r = _redis(proxy)
    try:
        assert r.get(tag + ":counter") == b"1200"
    finally:
        r.close()


def test_stats_show_both_pools(mixed, tag):
    proxy, mcs, rs = mixed
    mc, r = _pymemcache(proxy), _redis(proxy)
    try:
        for k in kt.make_keys(50, tag):  # spread over both servers of each pool
            mc.set(k, b"x", noreply=False)
            r.set(k, "x")
    finally:
        mc.close()
        r.close()

    def counted():
        st = proxy.stats()
        done = all(sum(st[pool][s]["requests"] for s in names) >= 50
                   for pool, names in (("cache", ("mc1", "mc2")), ("store", ("rd1", "rd2"))))
        return st if done else None

    st = kt.wait_until(counted, timeout=5, interval=0.1)
    assert st, "stats never counted the requests: %r" % proxy.stats()
    assert set(st) >= kt.TOP_FIELDS | {"cache", "store"}
    assert set(st["cache"]) == kt.POOL_FIELDS | {"mc1", "mc2"}
    assert set(st["store"]) == kt.POOL_FIELDS | {"rd1", "rd2"}
    for pool, names in (("cache", ("mc1", "mc2")), ("store", ("rd1", "rd2"))):
        for s in names:
            assert set(st[pool][s]) == kt.SERVER_FIELDS
            assert st[pool][s]["requests"] > 0, (pool, s)
            assert st[pool][s]["responses"] > 0, (pool, s)
            assert st[pool][s]["server_connections"] >= 1, (pool, s)
    assert proxy.alive()

"""Membership from ZooKeeper, dual rings during an expansion, and hot reload
of the config file (DESIGN.md sections 2, 4 and 8), against a real
ZooKeeper, real memcached and redis-server, and real client libraries
(pymemcache, redis-py, kazoo).

A pool with `servers_from: zookeeper` takes its members from
/<root>/pools/<pool>/servers/<name> (JSON {"addr", "weight", "zone",
"state"}; a state other than "up" is out of the ring); the file's
`servers` only bootstrap it. While /<root>/pools/<pool>/previous exists
(or the file has `previous_servers`) two rings are live: reads fall back
to the old ring and copy a hit forward, writes go to the new ring and
delete on the old. Each proxy registers /<root>/proxies/<host>:<stats
port> holding the topology generation it serves.

What every test checks is what a user of the pool would notice: which
server a key lands on (asked of that server directly), whether keys are
still found, whether any client request failed or any client connection
was dropped. Each test writes its znodes under its own root in the
session's ZooKeeper, except those that stop ZooKeeper: they start their
own. Waits poll the stats port, the proxies node, the proxy's log or
behaviour under a deadline; no sleep decides a result.

With KETCH_EXPANSION_REPORT naming a file, the expansion tests append one
JSON line each with the hit rates they measured (also printed: run with -s).
"""

import json
import os
import re
import signal
import socket
import threading
import time

import pytest

import ketchtest as kt

pytestmark = pytest.mark.ketch_only(reason="ZooKeeper membership, dual rings and hot reload "
                                    "are ketch features")

WAIT_S = 20.0         # deadline for a change to show (ketch's target: about 1 s)
SESSION_MS = 4000     # ketch's ZooKeeper session timeout in these tests
DEBOUNCE_MS = 100     # ketch's debounce in these tests
MIN_HIT_RATE = 0.99   # during and after an expansion with the dual ring
MAX_CONTROL_HIT_RATE = 0.90  # without it: about 2/3 of keys stay put (4 -> 6 servers)


def _require_servers(redis=False):
    if kt.memcached_bin() is None:
        pytest.skip("memcached not found (Debian: apt-get install memcached)")
    if redis and kt.redis_bin() is None:
        pytest.skip("redis-server not found (Debian: apt-get install redis-server)")


def _clients():
    """pymemcache and redis-py, imported late: a missing one fails the test
    that needs it, with the package to install."""
    try:
        from pymemcache.client.base import Client as McClient
        import redis
    except ImportError as e:
        pytest.fail("python3-pymemcache and python3-redis are needed: %s" % e)
    return McClient, redis


def mc_client(port):
    McClient, _ = _clients()
    return McClient(("127.0.0.1", port), connect_timeout=kt.IO_TIMEOUT_S,
                    timeout=kt.IO_TIMEOUT_S, no_delay=True)


def redis_client(port):
    _, redis = _clients()
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=kt.IO_TIMEOUT_S,
                       socket_connect_timeout=kt.IO_TIMEOUT_S, single_connection_client=True)


# --------------------------------------------------------------------------
# the membership tree, written with kazoo


def server_payload(addr, weight=1, zone="a", state="up"):
    return json.dumps({"addr": addr, "weight": weight, "zone": zone,
                       "state": state}).encode()


class Tree:
    """/<root>/pools/... of one test: servers, previous, and the proxies
    nodes. <zk> is a started KazooClient."""

    def __init__(self, zk, root):
        self.zk = zk
        self.root = root

    def servers_path(self, pool, name=None):
        p = "%s/pools/%s/servers" % (self.root, pool)
        return p if name is None else p + "/" + name

    def previous_path(self, pool):
        return "%s/pools/%s/previous" % (self.root, pool)

    def put_raw(self, pool, name, data):
        """Create or overwrite server znode <name> with <data> (bytes)."""
        path = self.servers_path(pool, name)
        self.zk.ensure_path(self.servers_path(pool))
        if self.zk.exists(path):
            self.zk.set(path, data)
        else:
            self.zk.create(path, data)

    def put(self, pool, name, server, state="up", weight=1):
        self.put_raw(pool, name, server_payload(server.addr, weight=weight, state=state))

    def put_all(self, pool, named):
        """[(name, server)] as servers that are up."""
        for name, server in named:
            self.put(pool, name, server)

    def commit(self, ops):
        """Apply [(op, path, data)] ("create" / "delete") in one ZooKeeper
        transaction: ketch sees all of it or none of it."""
        t = self.zk.transaction()
        for op, path, data in ops:
            if op == "create":
                t.create(path, data)
            else:
                t.delete(path)
        results = t.commit()
        bad = [r for r in results if isinstance(r, Exception)]
        assert not bad, "transaction %r failed: %r" % (ops, results)

    def delete(self, pool, names):
        """Delete server znodes <names> at once."""
        self.commit([("delete", self.servers_path(pool, n), None) for n in names])

    def begin_expansion(self, pool, old, new):
        """previous = <old> ([(name, server)]) and the servers <new> added,
        in one transaction (what `ketch-admin expansion begin` and `server
        add` amount to, without an intermediate state)."""
        self.zk.ensure_path(self.servers_path(pool))
        prev = json.dumps({"servers": [{"name": n, "addr": s.addr, "weight": 1}
                                       for n, s in old]}).encode()
        self.commit([("create", self.previous_path(pool), prev)] +
                    [("create", self.servers_path(pool, n), server_payload(s.addr))
                     for n, s in new])

    def end_expansion(self, pool):
        self.zk.delete(self.previous_path(pool))

    def proxy_path(self, proxy):
        """/<root>/proxies/<hostname>:<stats port>: ketch's own node."""
        return "%s/proxies/%s:%d" % (self.root, socket.gethostname(), proxy.stats_port)

    def generation(self, proxy):
        """The generation <proxy> says it serves, or None while it has no node."""
        from kazoo.exceptions import NoNodeError
        try:
            data, _ = self.zk.get(self.proxy_path(proxy))
        except NoNodeError:
            return None
        assert re.match(rb"^\d+$", data), "%s holds %r, not a decimal generation" % (
            self.proxy_path(proxy), data)
        return int(data)

    def wait_generation(self, proxy, above, what):
        """Wait until <proxy>'s node holds a generation > <above>; return it."""
        got = kt.wait_until(lambda: (self.generation(proxy) or 0) > above, timeout=WAIT_S)
        if not got:
            pytest.fail("%s: %s still serves generation %r (waited for > %d, %d s); children "
                        "of proxies/: %r\n%s" % (what, self.proxy_path(proxy),
                                                 self.generation(proxy), above, WAIT_S,
                                                 self._proxies(), kt.tail(proxy.logpath)))
        return self.generation(proxy)

    def _proxies(self):
        path = self.root + "/proxies"
        return self.zk.get_children(path) if self.zk.exists(path) else None


def zk_section(zookeeper, root, **extra):
    """The ketch: section for a proxy following <root> in <zookeeper>."""
    zk = {"hosts": zookeeper.hosts, "root": root, "session_timeout_ms": SESSION_MS,
          "debounce_ms": DEBOUNCE_MS}
    zk.update(extra)
    return {"zookeeper": zk}


def zk_pool(bootstrap, redis=False, **extra):
    """A pool taking its members from ZooKeeper; <bootstrap> ([(name,
    server)]) is the file's list, used until a first snapshot."""
    pool = {"hash": "fnv1a_64", "distribution": "ketama", "timeout": 3000}
    if redis:
        pool["redis"] = True
    pool["servers_from"] = "zookeeper"
    pool.update(extra)
    pool["servers"] = [kt.server_line(s, 1, n) for n, s in bootstrap]
    return pool


def named(prefix, servers, first=1):
    return [("%s%d" % (prefix, i), s) for i, s in enumerate(servers, first)]


# --------------------------------------------------------------------------
# what the proxy shows: stats and log


def members(proxy, pool):
    """The server names the stats port lists for <pool>."""
    st = proxy.stats()
    assert pool in st, "no pool %r in stats: %s" % (pool, sorted(st))
    return sorted(k for k, v in st[pool].items() if isinstance(v, dict))


def died(proxy):
    """A failure message when <proxy> is no longer running, else None."""
    if proxy.proc is None or proxy.proc.poll() is None:
        return None
    rc = proxy.proc.returncode
    return "the proxy exited (%s); log:\n%s" % (
        "signal %d" % -rc if rc < 0 else "status %d" % rc, kt.tail(proxy.logpath))


def wait_members(proxy, pool, names, what="the new membership"):
    want = sorted(names)
    if not kt.wait_until(lambda: died(proxy) or members(proxy, pool) == want, timeout=WAIT_S) \
            or died(proxy):
        pytest.fail(died(proxy) or "%s: pool %s lists %r, not %r after %d s; log:\n%s" % (
            what, pool, members(proxy, pool), want, WAIT_S, kt.tail(proxy.logpath)))


def log_text(proxy):
    with open(proxy.logpath, encoding="utf-8", errors="replace") as f:
        return f.read()


def log_count(proxy, pattern):
    return len(re.findall(pattern, log_text(proxy)))


def wait_log(proxy, pattern, n=1, what=None):
    """Wait until <pattern> (a regex) is in the log <n> times."""
    if not kt.wait_until(lambda: log_count(proxy, pattern) >= n or died(proxy),
                         timeout=WAIT_S) or log_count(proxy, pattern) < n:
        pytest.fail(died(proxy) or "%s%r not logged %d time(s) within %d s; log:\n%s" % (
            what + ": " if what else "", pattern, n, WAIT_S, kt.tail(proxy.logpath)))


def repeated_lines(text):
    """[(line, times)] of the log lines (timestamps, thread ids and numbers
    taken out) that occur more than twice: the same message again and again."""
    counts = {}
    for line in text.splitlines():
        norm = re.sub(r"\d+", "N", re.sub(r"^\[[^\]]*\]\s*|^[\d\-: ,]+:\d+\(0x[0-9a-f]+\):", "",
                                          line)).strip()
        if norm:
            counts[norm] = counts.get(norm, 0) + 1
    return sorted(((l, n) for l, n in counts.items() if n > 2), key=lambda x: -x[1])


SERVING = r"serving topology (\d+)"


def served_generations(proxy):
    return [int(g) for g in re.findall(SERVING, log_text(proxy))]


# --------------------------------------------------------------------------
# keys and the servers holding them


def values_for(keys, tag="v"):
    return {k: ("%s|%s" % (tag, k)).encode() for k in keys}


def mc_set_all(port, items, expire=0):
    c = mc_client(port)
    try:
        items = list(items.items())
        for i in range(0, len(items), 200):
            failed = c.set_many(dict(items[i:i + 200]), expire=expire, noreply=False)
            assert not failed, "sets refused through the proxy: %r" % failed[:5]
    finally:
        c.close()


def mc_read_all(port, keys, batch=100):
    """{key: value} of the <keys> found through the proxy at <port>."""
    c = mc_client(port)
    got = {}
    try:
        for i in range(0, len(keys), batch):
            got.update(c.get_many(keys[i:i + batch]))
    finally:
        c.close()
    return got


def hit_rate(expected, got):
    """Share of <expected> (key -> value) found with the right value;
    wrong values are an error, not a miss."""
    wrong = [k for k, v in got.items() if expected.get(k) != v]
    assert not wrong, "%d keys read a wrong value, e.g. %s: %r" % (
        len(wrong), wrong[0], got[wrong[0]])
    return len(got) / float(len(expected))


def mc_ttl(server, key):
    """Seconds left on memcached <server> itself: None when absent, -1 forever."""
    with server.conn() as c:
        r = c.call(b"mg " + key.encode() + b" t")
    if r == b"EN\r\n":
        return None
    m = re.match(rb"^(?:HD|VA \d+) .*?\bt(-?\d+)", r)
    assert m, "mg %s t: %r" % (key, r)
    return int(m.group(1))


def holders(servers, keys):
    """key -> [names of the servers holding it], asked of each server."""
    where = {}
    for name, s in servers:
        for k in s.present(keys):
            where.setdefault(k.decode(), []).append(name)
    return where


def report(entry):
    path = os.environ.get("KETCH_EXPANSION_REPORT")
    print("\n" + json.dumps(entry, sort_keys=True))
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")


# --------------------------------------------------------------------------
# client load


class Load(threading.Thread):
    """A client thread doing requests on one connection until stop():
    every error and every reconnection (the local address of its socket
    changing) is recorded, every value read is checked. A get that misses
    the value just set is counted apart (self.misses): it is right when the
    ring changed between the set and the get, and a fault otherwise."""

    def __init__(self, name):
        super().__init__(name=name, daemon=True)
        self.ops = 0
        self.misses = 0
        self.errors = []
        self.addrs = set()
        self._halt = threading.Event()

    def one(self, i):
        """One round of requests; returns the socket's local address."""
        raise NotImplementedError

    def run(self):
        i = 0
        while not self._halt.is_set():
            i += 1
            try:
                self.addrs.add(self.one(i))
                self.ops += 1
            except Exception as e:  # what a user would see
                if len(self.errors) < 20:
                    self.errors.append("%s #%d: %r" % (self.name, i, e))
                else:
                    self.errors.append("...")
                    break
                time.sleep(0.05)

    def wait_ops(self, n, what="more requests"):
        target = self.ops + n
        if not kt.wait_until(lambda: self.ops >= target or not self.is_alive(), timeout=WAIT_S):
            pytest.fail("%s: %d of %d %s in %d s; errors: %r" % (
                self.name, self.ops, target, what, WAIT_S, self.errors))

    def stop(self):
        self._halt.set()
        self.join(kt.IO_TIMEOUT_S * 2)
        assert not self.is_alive(), "%s did not stop" % self.name

    def check(self):
        assert self.ops > 0, "%s did no request" % self.name
        assert not self.errors, "%s: client errors: %s" % (self.name, self.errors)
        assert len(self.addrs) == 1, "%s: the client connection was dropped and made again " \
            "(local addresses %s)" % (self.name, sorted(self.addrs))


class McLoad(Load):
    """set, get, get_many through pymemcache on one connection."""

    def __init__(self, port, keys, name="memcached load"):
        super().__init__(name)
        self.c = mc_client(port)
        self.keys = keys

    def one(self, i):
        k = self.keys[i % len(self.keys)]
        v = ("%s#%d" % (k, i)).encode()
        if not self.c.set(k, v, noreply=False):
            raise AssertionError("set %s not stored" % k)
        got = self.c.get(k)
        if got is None:
            self.misses += 1
        elif got != v:
            raise AssertionError("get %s: %r, set %r" % (k, got, v))
        batch = [self.keys[(i + j) % len(self.keys)] for j in range(8)]
        self.c.get_many(batch)
        return self.c.sock.getsockname()

    def stop(self):
        super().stop()
        self.c.close()


class RedisLoad(Load):
    """SET, GET, HSET, HGETALL through redis-py on one connection."""

    def __init__(self, port, keys, name="redis load"):
        super().__init__(name)
        self.r = redis_client(port)
        self.keys = keys

    def one(self, i):
        k = self.keys[i % len(self.keys)]
        v = ("%s#%d" % (k, i)).encode()
        if self.r.set(k, v) is not True:
            raise AssertionError("SET %s refused" % k)
        got = self.r.get(k)
        if got is None:
            self.misses += 1
        elif got != v:
            raise AssertionError("GET %s: %r, set %r" % (k, got, v))
        self.r.hset("h" + k, "n", i)
        if self.r.hgetall("h" + k) != {b"n": str(i).encode()}:
            raise AssertionError("HGETALL h%s" % k)
        return self.r.connection._sock.getsockname()

    def stop(self):
        super().stop()
        self.r.close()


# --------------------------------------------------------------------------
# 1. live membership


def test_membership_applied_live(cluster, zookeeper, zk_client, zk_root):
    """Servers added and drained in ZooKeeper join and leave the ring of a
    running proxy: keys set through it land on the new server, a drained
    server's keys go elsewhere; the proxy's node in proxies/ tracks the
    generation it serves."""
    _require_servers()
    mcs = cluster.memcached(3, prefix="live")
    mc = named("mc", mcs)
    tree = Tree(zk_client, zk_root)
    tree.put_all("web", mc[:2])
    proxy = cluster.proxy({"ketch": zk_section(zookeeper, zk_root),
                           "web": zk_pool(mc[:2])})
    wait_members(proxy, "web", ["mc1", "mc2"], "first snapshot")
    g1 = tree.wait_generation(proxy, 0, "registered at start")
    assert g1 in served_generations(proxy) or g1 == 1, (g1, served_generations(proxy))

    tree.put("web", "mc3", mcs[2])
    wait_members(proxy, "web", ["mc1", "mc2", "mc3"], "mc3 added")
    g2 = tree.wait_generation(proxy, g1, "after adding mc3")
    assert g2 in served_generations(proxy), "proxies node holds %d; log says %r" % (
        g2, served_generations(proxy))
    keys = kt.make_keys(300, "live")
    values = values_for(keys)
    mc_set_all(proxy.port, values)
    on3 = mcs[2].present(keys)
    assert 0.15 * len(keys) < len(on3) < 0.6 * len(keys), \
        "%d of %d keys landed on the added server mc3" % (len(on3), len(keys))
    assert hit_rate(values, mc_read_all(proxy.port, keys)) == 1.0

    on2 = sorted(k.decode() for k in mcs[1].present(keys))
    assert on2, "no key on mc2 before draining it"
    tree.put("web", "mc2", mcs[1], state="draining")
    wait_members(proxy, "web", ["mc1", "mc3"], "mc2 draining")
    g3 = tree.wait_generation(proxy, g2, "after draining mc2")
    assert g3 in served_generations(proxy)
    moved = values_for(on2, "moved")
    mc_set_all(proxy.port, moved)
    assert hit_rate(moved, mc_read_all(proxy.port, on2)) == 1.0
    where = holders([("mc1", mcs[0]), ("mc3", mcs[2])], on2)
    assert sorted(where) == on2, "keys set after draining mc2 are on neither mc1 nor mc3: %r" % (
        sorted(set(on2) - set(where))[:5])
    with mcs[1].conn() as c:
        stale = [k for k in on2[:50] if c.get(k) != values[k]]
    assert not stale, "a set through the proxy still reached the drained mc2: %r" % stale[:5]


# --------------------------------------------------------------------------
# 2. ZooKeeper killed and restarted


def test_zookeeper_killed_and_restarted(cluster):
    """kill -9 of ZooKeeper under client load: no request fails, the loss
    is logged once (and no other line over and over while it is down), and
    once ZooKeeper is back on its port a change is applied."""
    _require_servers()
    zk = cluster.zookeeper()
    root = "/ketch"
    mcs = cluster.memcached(3, prefix="zkdown")
    mc = named("mc", mcs)
    client = zk.client()
    try:
        Tree(client, root).put_all("web", mc[:2])
    finally:
        client.stop()
        client.close()
    proxy = cluster.proxy({"ketch": zk_section(zk, root, session_timeout_ms=10000),
                           "web": zk_pool(mc[:2])})
    wait_members(proxy, "web", ["mc1", "mc2"], "first snapshot")
    load = McLoad(proxy.port, kt.make_keys(64, "zkdown"))
    load.start()
    try:
        load.wait_ops(50)
        port = zk.port
        zk.kill()
        wait_log(proxy, r"zookeeper: connection to \S+ lost; serving the last good membership",
                 what="ZooKeeper killed")
        load.wait_ops(200, "requests while ZooKeeper is down")
        zk.start_on(port)
        client = zk.client()
        try:
            tree = Tree(client, root)
            # the proxy is back on ZooKeeper (same session, or a new one)
            wait_log(proxy, r"zookeeper: back at", what="ZooKeeper restarted")
            tree.put("web", "mc3", mcs[2])
            wait_members(proxy, "web", ["mc1", "mc2", "mc3"], "a change after the restart")
        finally:
            client.stop()
            client.close()
        load.wait_ops(50)
    finally:
        load.stop()
    load.check()
    n = log_count(proxy, r"zookeeper: connection to \S+ lost")
    assert n == 1, "the loss of ZooKeeper logged %d times (once expected):\n%s" % (
        n, kt.tail(proxy.logpath))
    # state transitions, not repeats (DESIGN.md section 9): the outage is
    # one line, not one per reconnection attempt
    repeats = repeated_lines(log_text(proxy))
    assert not repeats, "lines repeated while ZooKeeper was down (x times: line):\n%s" % (
        "\n".join("%dx: %s" % (n, line) for line, n in repeats[:5]))


# --------------------------------------------------------------------------
# 3. session expiry


def test_session_expiry(cluster, zookeeper, zk_client, zk_root):
    """A proxy stopped (SIGSTOP) for longer than its session timeout loses
    its session: ZooKeeper removes its ephemeral proxies node. Resumed, it
    logs the expiry, registers again and follows later changes."""
    _require_servers()
    mcs = cluster.memcached(3, prefix="expiry")
    mc = named("mc", mcs)
    tree = Tree(zk_client, zk_root)
    tree.put_all("web", mc[:2])
    proxy = cluster.proxy({"ketch": zk_section(zookeeper, zk_root, session_timeout_ms=2000),
                           "web": zk_pool(mc[:2])})
    wait_members(proxy, "web", ["mc1", "mc2"], "first snapshot")
    g1 = tree.wait_generation(proxy, 0, "registered at start")
    os.kill(proxy.proc.pid, signal.SIGSTOP)
    try:
        gone = kt.wait_until(lambda: tree.generation(proxy) is None, timeout=WAIT_S)
        assert gone, "the stopped proxy's node %s outlived its 2 s session by %d s" % (
            tree.proxy_path(proxy), WAIT_S)
    finally:
        os.kill(proxy.proc.pid, signal.SIGCONT)
    wait_log(proxy, r"zookeeper: session expired", what="resumed after the expiry")
    g2 = tree.wait_generation(proxy, 0, "registered again after the expiry")
    assert g2 >= g1
    tree.put("web", "mc3", mcs[2])
    wait_members(proxy, "web", ["mc1", "mc2", "mc3"], "a change after the expiry")
    tree.wait_generation(proxy, g2, "the change after the expiry")
    assert proxy.alive()


# --------------------------------------------------------------------------
# 4. bad payloads


def test_bad_payload_keeps_last_good(cluster, zookeeper, zk_client, zk_root):
    """A server znode holding invalid JSON, or JSON without "addr", or a
    "previous" without servers, is logged and the pool keeps its last good
    membership (its keys still found); once the payload is fixed it is
    applied."""
    _require_servers()
    mcs = cluster.memcached(3, prefix="bad")
    mc = named("mc", mcs)
    tree = Tree(zk_client, zk_root)
    tree.put_all("web", mc[:2])
    proxy = cluster.proxy({"ketch": zk_section(zookeeper, zk_root), "web": zk_pool(mc[:2])})
    wait_members(proxy, "web", ["mc1", "mc2"], "first snapshot")
    keys = kt.make_keys(200, "bad")
    values = values_for(keys)
    mc_set_all(proxy.port, values)
    bad = r"zookeeper: pool 'web': bad payload, keeping the last good membership: "

    tree.put_raw("web", "mc2", b'{"addr": "%s", "weight": ' % mcs[1].addr.encode())
    wait_log(proxy, bad, 1, "invalid JSON in servers/mc2")
    assert members(proxy, "web") == ["mc1", "mc2"]
    assert hit_rate(values, mc_read_all(proxy.port, keys)) == 1.0

    tree.put("web", "mc2", mcs[1])
    tree.put_raw("web", "mc3", b'{"weight": 1, "zone": "a", "state": "up"}')
    wait_log(proxy, bad + r".*addr", 1, "servers/mc3 without addr")
    assert members(proxy, "web") == ["mc1", "mc2"]
    assert hit_rate(values, mc_read_all(proxy.port, keys)) == 1.0

    tree.put("web", "mc3", mcs[2])
    wait_members(proxy, "web", ["mc1", "mc2", "mc3"], "mc3's payload fixed")

    # a "previous" without its list of servers
    n = log_count(proxy, bad)
    zk_client.create(tree.previous_path("web"), b"{}")
    wait_log(proxy, bad, n + 1, "previous holding {}")
    assert proxy.alive(), "the proxy died of a bad previous payload:\n%s" % kt.tail(
        proxy.logpath)
    assert members(proxy, "web") == ["mc1", "mc2", "mc3"]
    zk_client.delete(tree.previous_path("web"))


# --------------------------------------------------------------------------
# 5. the removal valve


def test_removal_valve(cluster, zookeeper, zk_client, zk_root):
    """A snapshot taking 3 of 4 servers away at once is refused (the
    default max_removal_share is 0.5) and logged; the 4 keep serving.
    Taking one away is applied."""
    _require_servers()
    mcs = cluster.memcached(4, prefix="valve")
    mc = named("mc", mcs)
    tree = Tree(zk_client, zk_root)
    tree.put_all("web", mc)
    proxy = cluster.proxy({"ketch": zk_section(zookeeper, zk_root), "web": zk_pool(mc)})
    wait_members(proxy, "web", ["mc1", "mc2", "mc3", "mc4"], "first snapshot")
    # the file lists the same four: only the proxies node says ketch has read ZooKeeper
    # (a first snapshot after a start from the bootstrap list is not held to the valve)
    tree.wait_generation(proxy, 0, "registered at start")
    keys = kt.make_keys(400, "valve")
    values = values_for(keys)
    mc_set_all(proxy.port, values)

    tree.delete("web", ["mc2", "mc3", "mc4"])
    wait_log(proxy, r"zookeeper: pool 'web': refusing a snapshot that removes 3 of its 4 "
             r"servers at once \(max_removal_share 0\.5\)", what="3 of 4 servers deleted")
    assert members(proxy, "web") == ["mc1", "mc2", "mc3", "mc4"]
    assert hit_rate(values, mc_read_all(proxy.port, keys)) == 1.0

    tree.commit([("create", tree.servers_path("web", n), server_payload(s.addr))
                 for n, s in mc[1:]])
    g = tree.wait_generation(proxy, 0, "registered")
    tree.delete("web", ["mc4"])
    wait_members(proxy, "web", ["mc1", "mc2", "mc3"], "one of 4 servers deleted")
    tree.wait_generation(proxy, g, "one of 4 servers deleted")
    on4 = {k.decode() for k in mcs[3].present(keys)}
    got = mc_read_all(proxy.port, keys)
    assert set(got) == set(keys) - on4, "after mc4 left, found %d keys; expected exactly " \
        "those not on mc4 (%d)" % (len(got), len(keys) - len(on4))


# --------------------------------------------------------------------------
# 6. restart while ZooKeeper is down


def test_restart_with_zookeeper_down_serves_the_cache(cluster):
    """The last good membership is cached beside the config file
    (<config>.zk-cache.json by default). A proxy restarted while ZooKeeper
    is down serves it, not the file's bootstrap list: keys set before the
    restart are all found. The file lists mc1..mc3, ZooKeeper mc1 and mc4:
    the first snapshot removes 2 of 3 and is applied anyway (it replaces a
    bootstrap list, not a membership)."""
    _require_servers()
    zk = cluster.zookeeper()
    root = "/ketch"
    mcs = cluster.memcached(4, prefix="cache")
    mc = named("mc", mcs)
    client = zk.client()
    try:
        Tree(client, root).put_all("web", [mc[0], mc[3]])
    finally:
        client.stop()
        client.close()
    proxy = cluster.proxy({"ketch": zk_section(zk, root), "web": zk_pool(mc[:3])})
    wait_members(proxy, "web", ["mc1", "mc4"], "first snapshot (not held to the valve)")
    cache = proxy.confpath + ".zk-cache.json"
    assert kt.wait_until(lambda: os.path.exists(cache), timeout=WAIT_S), \
        "no membership cache at %s:\n%s" % (cache, kt.tail(proxy.logpath))
    keys = kt.make_keys(300, "cache")
    values = values_for(keys)
    mc_set_all(proxy.port, values)
    assert mcs[3].present(keys), "no key on mc4"

    proxy.stop()
    zk.stop()
    with open(proxy.logpath, "a") as f:
        f.write("----- restarted while ZooKeeper is down -----\n")
    proxy.start()
    assert members(proxy, "web") == ["mc1", "mc4"], "restarted without ZooKeeper: %r\n%s" % (
        members(proxy, "web"), kt.tail(proxy.logpath))
    assert hit_rate(values, mc_read_all(proxy.port, keys)) == 1.0
    assert "starting from the membership cached in" in log_text(proxy).split(
        "----- restarted")[-1], kt.tail(proxy.logpath)


# --------------------------------------------------------------------------
# 7. the expansion test (memcached)


class Reader(threading.Thread):
    """Reads every key through the proxy, pass after pass, until stop():
    per batch of 100 keys, 90 by one get_many and 10 by single gets (which
    10 rotates). Counts reads, hits and wrong values."""

    BATCH = 100
    SINGLES = 10

    def __init__(self, port, values):
        super().__init__(name="reader", daemon=True)
        self.c = mc_client(port)
        self.values = values
        self.keys = list(values)
        self.lock = threading.Lock()
        self.reads = self.hits = self.passes = 0
        self.wrong = []
        self.errors = []
        self._halt = threading.Event()

    def _count(self, keys, got):
        with self.lock:
            self.reads += len(keys)
            for k, v in got.items():
                if v == self.values.get(k):
                    self.hits += 1
                elif len(self.wrong) < 10:
                    self.wrong.append((k, v))

    def run(self):
        p = 0
        try:
            while not self._halt.is_set():
                for i in range(0, len(self.keys), self.BATCH):
                    if self._halt.is_set():
                        return
                    chunk = self.keys[i:i + self.BATCH]
                    r = (p * self.SINGLES) % len(chunk)
                    singles = (chunk + chunk)[r:r + self.SINGLES]
                    multi = [k for k in chunk if k not in singles]
                    got = self.c.get_many(multi)
                    for k in singles:
                        v = self.c.get(k)
                        if v is not None:
                            got[k] = v
                    self._count(chunk, got)
                p += 1
                with self.lock:
                    self.passes = p
        except Exception as e:
            self.errors.append(repr(e))

    def counters(self):
        with self.lock:
            return self.reads, self.hits, self.passes

    def wait_passes(self, n):
        if not kt.wait_until(lambda: self.counters()[2] >= n or not self.is_alive(),
                             timeout=WAIT_S * 3):
            pytest.fail("reader: %d of %d passes" % (self.counters()[2], n))
        assert not self.errors, "reader: %s" % self.errors

    def stop(self):
        self._halt.set()
        self.join(kt.IO_TIMEOUT_S * 2)
        self.c.close()
        assert not self.errors, "reader: %s" % self.errors
        assert not self.wrong, "reader: wrong values: %r" % self.wrong


NKEYS = 10000
NCONTROL = 3000
NTTL = 200        # of the NKEYS, set with a TTL
TTL_S = 3600


def test_expansion_memcached(cluster, zookeeper, zk_client, zk_root):
    """4 -> 6 memcached under a steady read load. With the dual ring
    (previous = the 4 while the 2 new servers join) reads keep finding
    every key, >= 99% during the transition, and copy moved keys forward,
    so after the end >= 99% are found on the new ring alone, TTLs kept.
    The control pool "ctl" grows the same way without previous: about a
    third of its keys are lost, which is what the dual ring prevents."""
    _require_servers()
    mcs = cluster.memcached(6, prefix="exp")
    mc = named("mc", mcs)
    tree = Tree(zk_client, zk_root)
    tree.put_all("web", mc[:4])
    tree.put_all("ctl", mc[:4])
    proxy = cluster.proxy({"ketch": zk_section(zookeeper, zk_root),
                           "web": zk_pool(mc[:4]), "ctl": zk_pool(mc[:4])})
    four = ["mc1", "mc2", "mc3", "mc4"]
    six = four + ["mc5", "mc6"]
    wait_members(proxy, "web", four, "first snapshot")
    wait_members(proxy, "ctl", four, "first snapshot")

    keys = kt.make_keys(NKEYS, "exp")
    values = values_for(keys)
    ttl_keys = keys[:NTTL]
    mc_set_all(proxy.ports["web"], {k: values[k] for k in ttl_keys}, expire=TTL_S)
    mc_set_all(proxy.ports["web"], {k: values[k] for k in keys[NTTL:]})
    assert hit_rate(values, mc_read_all(proxy.ports["web"], keys)) == 1.0
    ctl_keys = kt.make_keys(NCONTROL, "ctl")
    ctl_values = values_for(ctl_keys)
    mc_set_all(proxy.ports["ctl"], ctl_values)

    # control: the two servers join without previous
    tree.commit([("create", tree.servers_path("ctl", n), server_payload(s.addr))
                 for n, s in mc[4:]])
    wait_members(proxy, "ctl", six, "control pool grown")
    control = hit_rate(ctl_values, mc_read_all(proxy.ports["ctl"], ctl_keys))

    # the dual ring, under a reader
    reader = Reader(proxy.ports["web"], values)
    reader.start()
    try:
        reader.wait_passes(1)
        r0, h0, _ = reader.counters()
        g = tree.wait_generation(proxy, 0, "registered")
        tree.begin_expansion("web", mc[:4], mc[4:])
        wait_members(proxy, "web", six, "expansion begun")
        g = tree.wait_generation(proxy, g, "expansion begun")
        # a whole pass that started after the switch: every key read once on the new ring
        reader.wait_passes(reader.counters()[2] + 2)
        r1, h1, _ = reader.counters()
        during = (h1 - h0) / float(r1 - r0)
        tree.end_expansion("web")
        tree.wait_generation(proxy, g, "expansion ended")
    finally:
        reader.stop()
    after = hit_rate(values, mc_read_all(proxy.ports["web"], keys))

    moved = holders(mc[4:], keys)
    report({"test": "expansion/memcached", "keys": NKEYS, "reads_during": r1 - r0,
            "hit_rate_during": round(during, 5), "hit_rate_after_end": round(after, 5),
            "control_keys": NCONTROL, "control_hit_rate_without_dual_ring": round(control, 5),
            "copied_forward": len(moved)})
    assert control < MAX_CONTROL_HIT_RATE, \
        "the control pool kept %.1f%% of its keys after growing 4 -> 6 without a dual ring: " \
        "the keys did not move, so this test shows nothing" % (100 * control)
    assert during >= MIN_HIT_RATE, "hit rate during the expansion: %.2f%% (%d reads)\n%s" % (
        100 * during, r1 - r0, kt.tail(proxy.logpath))
    assert after >= MIN_HIT_RATE, "hit rate after the expansion ended: %.2f%%\n%s" % (
        100 * after, kt.tail(proxy.logpath))
    assert 0.15 * NKEYS < len(moved) < 0.5 * NKEYS, \
        "%d of %d keys were copied to mc5/mc6" % (len(moved), NKEYS)
    for k in [k for k in ttl_keys if k in moved]:
        ttl = mc_ttl(dict(mc)[moved[k][0]], k)
        assert ttl is not None and 0 < ttl <= TTL_S, \
            "%s copied forward to %s with TTL %r (set with %d s)" % (k, moved[k][0], ttl, TTL_S)


# --------------------------------------------------------------------------
# 8. expansion with Redis


def _redis_expect(kind, k):
    if kind == "h":
        return {b"f1": b"a|" + k.encode(), b"f2": b"b", b"f3": b"c"}
    if kind == "l":
        return [b"x|" + k.encode(), b"y", b"z"]
    return b"s|" + k.encode()


def _redis_read(r, kind, k):
    if kind == "h":
        return r.hgetall(k)
    if kind == "l":
        return r.lrange(k, 0, -1)
    return r.get(k)


def test_expansion_redis(cluster, zookeeper, zk_client, zk_root):
    """4 -> 6 redis-servers with previous: hashes, lists and strings (some
    with a TTL) all read correctly through the proxy during the transition;
    a modifying write (HSET, RPUSH) on a key still only on its old server
    keeps the old data; a SET replaces it for good. After the end every key
    reads right on the new ring alone, moved keys sit on their new server
    with their TTL, and a key written during the transition is gone from
    its old server."""
    _require_servers(redis=True)
    rs = cluster.redis(6, prefix="rexp")
    rn = named("r", rs)
    tree = Tree(zk_client, zk_root)
    tree.put_all("cache", rn[:4])
    proxy = cluster.proxy({"ketch": zk_section(zookeeper, zk_root),
                           "cache": zk_pool(rn[:4], redis=True)})
    four = ["r1", "r2", "r3", "r4"]
    wait_members(proxy, "cache", four, "first snapshot")
    port = proxy.ports["cache"]

    kinds = {}
    for kind, n in (("h", 200), ("l", 200), ("t", 200), ("s", 100)):
        for k in kt.make_keys(n, "rexp-" + kind):
            kinds[k] = kind
    r = redis_client(port)
    try:
        pipe = r.pipeline(transaction=False)
        for k, kind in kinds.items():
            want = _redis_expect(kind, k)
            if kind == "h":
                pipe.hset(k, mapping=want)
            elif kind == "l":
                pipe.rpush(k, *want)
            elif kind == "t":
                pipe.set(k, want, ex=TTL_S)
            else:
                pipe.set(k, want)
        pipe.execute()
        for k, kind in kinds.items():
            assert _redis_read(r, kind, k) == _redis_expect(kind, k), k
        old_where = holders(rn[:4], list(kinds))
        assert all(len(v) == 1 for v in old_where.values()) and len(old_where) == len(kinds)

        # a third of the keys of each kind: written before they are read
        hashes = [k for k, kind in kinds.items() if kind == "h"][:60]
        lists = [k for k, kind in kinds.items() if kind == "l"][:60]
        strings = [k for k, kind in kinds.items() if kind == "s"][:30]
        expect = {k: _redis_expect(kind, k) for k, kind in kinds.items()}
        g = tree.wait_generation(proxy, 0, "registered")
        tree.begin_expansion("cache", rn[:4], rn[4:])
        wait_members(proxy, "cache", four + ["r5", "r6"], "expansion begun")
        g = tree.wait_generation(proxy, g, "expansion begun")

        for k in hashes:
            assert r.hset(k, "f4", "new") == 1, k
            expect[k] = dict(expect[k])
            expect[k][b"f4"] = b"new"
        for k in lists:
            n = r.rpush(k, "new")
            assert n == 4, "RPUSH %s during the expansion answered %d: the old " \
                "elements were not migrated first" % (k, n)
            expect[k] = expect[k] + [b"new"]
        for k in strings:
            assert r.set(k, b"replaced|" + k.encode()) is True
            expect[k] = b"replaced|" + k.encode()
        wrong = {}
        for k, kind in kinds.items():
            got = _redis_read(r, kind, k)
            if got != expect[k]:
                wrong[k] = got
        assert not wrong, "%d keys read wrong during the expansion, e.g. %r\n%s" % (
            len(wrong), sorted(wrong.items())[:3], kt.tail(proxy.logpath))
        for k in [k for k, kind in kinds.items() if kind == "t"]:
            pttl = r.pttl(k)
            assert 0 < pttl <= TTL_S * 1000, "PTTL %s during the expansion: %r" % (k, pttl)

        tree.end_expansion("cache")
        tree.wait_generation(proxy, g, "expansion ended")
        for k, kind in kinds.items():
            got = _redis_read(r, kind, k)
            if got != expect[k]:
                wrong[k] = got
        assert not wrong, "%d keys read wrong after the expansion, e.g. %r\n%s" % (
            len(wrong), sorted(wrong.items())[:3], kt.tail(proxy.logpath))
        for k, kind in kinds.items():
            pttl = r.pttl(k)
            if kind == "t":
                assert 0 < pttl <= TTL_S * 1000, "PTTL %s after the expansion: %r" % (k, pttl)
            else:
                assert pttl == -1, "PTTL %s after the expansion: %r (no TTL was set)" % (k, pttl)
    finally:
        r.close()

    new_where = holders(rn[4:], list(kinds))
    assert 0.15 * len(kinds) < len(new_where) < 0.5 * len(kinds), \
        "%d of %d keys are on r5/r6" % (len(new_where), len(kinds))
    servers = dict(rn)
    for k, names in sorted(new_where.items()):
        assert len(names) == 1, "%s on both new servers: %r" % (k, names)
        with servers[names[0]].conn() as c:
            kind = kinds[k]
            if kind == "h":
                flat = c.call("HGETALL", k)
                got = dict(zip(flat[::2], flat[1::2]))
            elif kind == "l":
                got = c.call("LRANGE", k, "0", "-1")
            else:
                got = c.call("GET", k)
            assert got == expect[k], "%s on %s: %r" % (k, names[0], got)
            pttl = c.call("PTTL", k)
            if kind == "t":
                assert 0 < pttl <= TTL_S * 1000, "%s on %s: PTTL %d" % (k, names[0], pttl)
            else:
                assert pttl == -1, "%s on %s: PTTL %d" % (k, names[0], pttl)
    written = [k for k in hashes + lists + strings if k in new_where]
    assert written, "none of the keys written during the expansion moved"
    for k in written:
        old = servers[old_where[k][0]]
        assert not old.present([k]), "%s, written during the expansion, is still on its " \
            "old server %s" % (k, old_where[k][0])


# --------------------------------------------------------------------------
# 9. hot reload under load


def _reload_pools(mcs, rds, mc_timeout=3000, rd_timeout=3000, mc_n=2, spare=False):
    pools = {
        "ketch": {"watch_config": True},
        "mc": {"hash": "fnv1a_64", "distribution": "ketama", "timeout": mc_timeout,
               "servers": [kt.server_line(m, 1, "m%d" % (i + 1))
                           for i, m in enumerate(mcs[:mc_n])]},
        "rd": {"redis": True, "hash": "fnv1a_64", "distribution": "ketama",
               "timeout": rd_timeout,
               "servers": [kt.server_line(r, 1, "r%d" % (i + 1)) for i, r in enumerate(rds)]},
    }
    if spare:
        pools["spare"] = {"listen": None, "servers": [kt.server_line(mcs[-1], 1, "s1")]}
    return pools


def rewrite(proxy, pools):
    """Replace <proxy>'s config file by <pools> in one rename (the watcher
    never reads half a file), each pool keeping its listen address unless
    <pools> gives one."""
    out = {}
    for name, pool in pools.items():
        pool = dict(pool)
        if name != "ketch" and "listen" not in pool and name in proxy.ports:
            pool = {"listen": "127.0.0.1:%d" % proxy.ports[name], **pool}
        out[name] = pool
    write_text(proxy, kt.yaml_config(out))


def write_text(proxy, text):
    tmp = proxy.confpath + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, proxy.confpath)


def mc_total_connections(conn):
    """memcached's total_connections, asked on the open connection <conn>."""
    conn.send(b"stats\r\n")
    while True:
        line = conn.readline()
        if line == b"END\r\n":
            raise AssertionError("no total_connections in memcached's stats")
        if line.startswith(b"STAT total_connections "):
            total = int(line.split()[2])
            while conn.readline() != b"END\r\n":
                pass
            return total


def redis_total_connections(conn):
    info = conn.call("INFO", "stats")
    m = re.search(rb"total_connections_received:(\d+)", info)
    assert m, info[:200]
    return int(m.group(1))


class Backends:
    """The connections each backend has accepted so far, asked on one
    connection per backend that stays open (so asking adds none)."""

    def __init__(self, mcs, rds):
        self.mc = [(m.name, m.conn()) for m in mcs]
        self.rd = [(r.name, r.conn()) for r in rds]

    def totals(self):
        out = {n: mc_total_connections(c) for n, c in self.mc}
        out.update({n: redis_total_connections(c) for n, c in self.rd})
        return out

    def close(self):
        for _, c in self.mc + self.rd:
            c.close()


def test_hot_reload_under_load(cluster):
    """Rewrites of the config file while two clients (memcached and Redis
    pools) run requests: a timeout change, a server added, a backend-only
    pool added, an invalid file (rejected whole), a listen address changed
    (refused: needs a restart), SIGUSR1 on an unchanged file. No request
    fails, no client connection is dropped, and servers that survive a
    reload keep their backend connections."""
    _require_servers(redis=True)
    mcs = cluster.memcached(3, prefix="reload")
    rds = cluster.redis(1, prefix="rreload")
    proxy = cluster.proxy(_reload_pools(mcs, rds))
    changed = r"config file changed: serving topology \d+"
    mload = McLoad(proxy.ports["mc"], kt.make_keys(64, "reload"))
    rload = RedisLoad(proxy.ports["rd"], kt.make_keys(64, "rreload"))
    backends = Backends(mcs, rds)
    mload.start()
    rload.start()
    try:
        mload.wait_ops(50)
        rload.wait_ops(50)

        # only the Redis pool changes: memcached's connections stay
        before = backends.totals()
        rewrite(proxy, _reload_pools(mcs, rds, rd_timeout=2500))
        wait_log(proxy, changed, 1, "the Redis pool's timeout changed")
        mload.wait_ops(100)
        rload.wait_ops(100)
        after = backends.totals()
        assert [after[m.name] for m in mcs] == [before[m.name] for m in mcs], \
            "a reload of the Redis pool alone reconnected memcached: %r -> %r" % (before, after)

        # a server joins the memcached pool: the others keep their connections
        before = after
        misses = mload.misses
        rewrite(proxy, _reload_pools(mcs, rds, rd_timeout=2500, mc_n=3))
        wait_members(proxy, "mc", ["m1", "m2", "m3"], "m3 added by a reload")
        mload.wait_ops(100)
        rload.wait_ops(100)
        # the one set/get that straddles the switch may miss: its key moved to m3
        ring_misses = mload.misses - misses
        after = backends.totals()
        kept = [m.name for m in mcs[:2]] + [r.name for r in rds]
        assert [after[n] for n in kept] == [before[n] for n in kept], \
            "servers that survived the reload were reconnected: %r -> %r" % (before, after)
        assert mcs[2].present(mload.keys), "no key of the load reached the added m3"

        # a backend-only pool and a timeout change at once
        rewrite(proxy, _reload_pools(mcs, rds, mc_timeout=2000, rd_timeout=2500, mc_n=3,
                                     spare=True))
        if not kt.wait_until(lambda: "spare" in proxy.stats(), timeout=WAIT_S):
            pytest.fail("backend-only pool not added:\n%s" % kt.tail(proxy.logpath))
        assert members(proxy, "spare") == ["s1"]
        mload.wait_ops(100)
        rload.wait_ops(100)
        n_changed = log_count(proxy, changed)

        # an invalid file: rejected whole, the running config serves on
        write_text(proxy, open(proxy.confpath).read() + "mc2:\n  listen: [unterminated\n")
        wait_log(proxy, r"rejected whole", 1, "a file that is not YAML")
        pools = _reload_pools(mcs, rds, mc_n=3, spare=True)
        pools["mc"]["hash"] = "nosuchhash"
        rewrite(proxy, pools)
        wait_log(proxy, r"rejected whole", 2, "a pool with an unknown hash")
        mload.wait_ops(100)
        rload.wait_ops(100)
        assert members(proxy, "mc") == ["m1", "m2", "m3"]
        assert log_count(proxy, changed) == n_changed

        # a new listen address needs a restart: refused, the old one serves on
        moved_port = kt.free_port()
        pools = _reload_pools(mcs, rds, mc_n=3, spare=True)
        pools["mc"] = {"listen": "127.0.0.1:%d" % moved_port, **pools["mc"]}
        rewrite(proxy, pools)
        wait_log(proxy, r"needs a restart", 1, "listen address changed")
        mload.wait_ops(100)
        rload.wait_ops(100)
        assert not kt.port_accepts(moved_port), "the refused listen address is served"
        assert log_count(proxy, changed) == n_changed

        # back to a good file, then SIGUSR1 with nothing changed
        rewrite(proxy, _reload_pools(mcs, rds, mc_n=3, spare=True))
        wait_log(proxy, changed, n_changed + 1, "a good file again")
        os.kill(proxy.proc.pid, signal.SIGUSR1)
        wait_log(proxy, r"SIGUSR1: the file is unchanged", 1, "SIGUSR1")
        mload.wait_ops(100)
        rload.wait_ops(100)
    finally:
        mload.stop()
        rload.stop()
        backends.close()
    mload.check()
    rload.check()
    assert ring_misses <= 2, "%d gets missed the value just set while m3 joined" % ring_misses
    assert mload.misses == ring_misses and rload.misses == 0, \
        "gets missed the value just set without a ring change: memcached %d, Redis %d" % (
            mload.misses - ring_misses, rload.misses)
    assert proxy.alive()


def test_sigusr1_reload(cluster):
    """With watch_config: false a changed file is applied by SIGUSR1."""
    _require_servers()
    mcs = cluster.memcached(2, prefix="usr1")
    pools = {"ketch": {"watch_config": False},
             "web": {"hash": "fnv1a_64", "distribution": "ketama",
                     "servers": [kt.server_line(mcs[0], 1, "m1")]}}
    proxy = cluster.proxy(pools)
    assert members(proxy, "web") == ["m1"]
    pools["web"] = dict(pools["web"], servers=[kt.server_line(m, 1, "m%d" % (i + 1))
                                               for i, m in enumerate(mcs)])
    rewrite(proxy, pools)
    os.kill(proxy.proc.pid, signal.SIGUSR1)
    wait_members(proxy, "web", ["m1", "m2"], "SIGUSR1 after the file changed")
    assert re.search(r"SIGUSR1: serving topology \d+", log_text(proxy)), kt.tail(proxy.logpath)
    assert "config file changed" not in log_text(proxy), \
        "watch_config: false, yet the file was watched:\n%s" % kt.tail(proxy.logpath)


# --------------------------------------------------------------------------
# 10. previous_servers in the file


def test_previous_servers_in_the_file(cluster):
    """An expansion written in the file: pool "new" has the 6 servers and
    previous_servers the 4 of pool "old". Keys set through "old" are all
    found through "new"; those that moved are copied to mc5/mc6."""
    _require_servers()
    mcs = cluster.memcached(6, prefix="prev")
    mc = named("mc", mcs)
    lines = [kt.server_line(s, 1, n) for n, s in mc]
    base = {"hash": "fnv1a_64", "distribution": "ketama", "timeout": 3000}
    proxy = cluster.proxy({"old": dict(base, servers=lines[:4]),
                           "new": dict(base, previous_servers=lines[:4], servers=lines)})
    assert members(proxy, "new") == ["mc1", "mc2", "mc3", "mc4", "mc5", "mc6"]
    keys = kt.make_keys(2000, "prev")
    values = values_for(keys)
    mc_set_all(proxy.ports["old"], values)
    assert not holders(mc[4:], keys), "the old ring put keys on mc5/mc6"
    rate = hit_rate(values, mc_read_all(proxy.ports["new"], keys))
    assert rate == 1.0, "%.2f%% of keys set on the old ring found through the new one\n%s" % (
        100 * rate, kt.tail(proxy.logpath))
    moved = holders(mc[4:], keys)
    assert 0.15 * len(keys) < len(moved) < 0.5 * len(keys), \
        "%d of %d keys copied to mc5/mc6" % (len(moved), len(keys))
    # a write goes to the new ring and deletes on the old: a later read
    # never falls back to the stale copy
    k = sorted(moved)[0]
    with proxy.conn("new") as c:
        assert c.call(b"delete " + k.encode()) == b"DELETED\r\n"
        assert c.get(k) is None, "%s read after its delete" % k
        assert c.set(k, b"fresh") == b"STORED\r\n"
        assert c.get(k) == b"fresh"
    assert not any(s.present([k]) for _, s in mc[:4]), "%s left on the old ring" % k

"""Failover: what clients see when a backend dies, stops, refuses, stays
silent, answers half a reply, or flaps, and how the proxy comes back.

A server that fails server_failure_limit times in a row (or once, when its
connection is refused or reset) is marked TKO ("technical knockout"), for
every worker thread at once: it gets no client traffic, only probes
(memcached "version", Redis "PING"), from server_retry_timeout ms on,
backing off up to server_retry_timeout_max. Its requests then either fail at
once ("server marked down"), re-hash to the other servers
(auto_eject_hosts), or go to the pool's gutter, another pool that holds
them for at most gutter_ttl seconds; the ring itself never changes while a
gutter is used, so when a probe succeeds the keys return to their server.
A pool with `route: {type: failover, children: [...]}` tries its child
pools in turn the same way.

The faults come from real memcached and redis-server processes (kill -9,
SIGSTOP, a port nobody listens on); the fake servers in ketchtest are used
only for what a real server will not do on demand (accept and never answer,
answer half a reply). A client thread runs requests over keys of every
server throughout (Load); what every test checks:
  - no client request waits longer than its timeout plus a generous margin
    (a no-hang bound on 2 slow cores, not a speed target);
  - keys on healthy servers see no error and read what was written;
  - with a gutter the dead server's keys live on the gutter with a TTL of
    at most gutter_ttl, read on the gutter server itself (memcached's meta
    command "mg <key> t", Redis TTL);
  - after recovery the ring is the original one: keys set through the proxy
    land on the same servers as before the fault.
Waits are polls of the stats port or of behaviour under a deadline; no
sleep decides a result.

With KETCH_FAULT_REPORT naming a file, each scenario appends one JSON line
{"scenario", "max_wait_ms", "timeout_ms"}: the longest client wait seen."""

import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

import ketchtest as kt

pytestmark = pytest.mark.ketch_only(reason="TKO, probes, gutter pools and failover routes "
                                    "are ketch features")

TIMEOUT_MS = 250            # pool timeout: connect + response
RETRY_MS = 300              # server_retry_timeout: the first probe
RETRY_MAX_MS = 1000         # server_retry_timeout_max: cap of the probe backoff
FAILURE_LIMIT = 2           # server_failure_limit
GUTTER_TTL = 20             # s; long enough that nothing expires during a test
MARGIN_S = 1.5              # no-hang margin over the timeout
WAIT_S = 15.0               # deadline for a state change seen in stats
FAULT = 1                   # the index of the faulty server among four
NAMES = ["s1", "s2", "s3", "s4"]
NKEYS = 96                  # keys a Load goes over
LOAD_ROUND = NKEYS * 5 // 2  # requests in which a Load touches every key


def bound_s(hops=1):
    """The longest a client request may wait: <hops> timeouts (a request
    tried on a failing pool, then on the next) plus the margin."""
    return hops * TIMEOUT_MS / 1000.0 + MARGIN_S


def report(scenario, max_wait_s, timeout_ms=TIMEOUT_MS):
    path = os.environ.get("KETCH_FAULT_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"scenario": scenario,
                                "max_wait_ms": round(max_wait_s * 1000.0, 1),
                                "timeout_ms": timeout_ms}) + "\n")


class Waits:
    """Times calls; .max is the longest."""

    def __init__(self):
        self.max = 0.0

    def __call__(self, fn, *args, **kw):
        t0 = time.monotonic()
        try:
            return fn(*args, **kw)
        finally:
            self.max = max(self.max, time.monotonic() - t0)

    def check(self, hops=1):
        assert self.max <= bound_s(hops), "a request waited %.2f s (bound %.2f s)" % (
            self.max, bound_s(hops))


class Nobody:
    """Holds no key: stands for a server that cannot be asked."""

    name = "nobody"

    @staticmethod
    def present(keys):
        return set()


class Vacant:
    """A server address where nothing listens: connections are refused."""

    def __init__(self):
        self.port = kt.free_port()

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def stop(self):
        pass


# --------------------------------------------------------------------------
# the two protocols behind one interface


def _read_values(c):
    """("ok", {key: value}) for a retrieval reply, ("err", line) for an error
    line in its place."""
    items = {}
    while True:
        line = c.readline()
        if line == b"END\r\n":
            return "ok", items
        if line.startswith(b"VALUE "):
            parts = line[:-2].split(b" ")
            data = c.read_exact(int(parts[3]) + 2)
            if data[-2:] != b"\r\n":
                raise kt.ProtocolError("data block not terminated: %r" % data[-10:])
            items[parts[1].decode()] = data[:-2]
            continue
        if items:
            raise kt.ProtocolError("%r after values in one reply" % line)
        return "err", line


def _mc_retrieve(c, keys, cmd=b"get"):
    c.send(cmd + b" " + b" ".join(k.encode() for k in keys) + b"\r\n")
    return _read_values(c)


class Mc:
    name = "memcached"
    fake = "memcache"
    probe = b"version"
    marked_down = b"SERVER_ERROR server marked down\r\n"
    timed_out = b"SERVER_ERROR Connection timed out\r\n"

    @staticmethod
    def require():
        if kt.memcached_bin() is None:
            pytest.skip("memcached not found")

    @staticmethod
    def start(cluster, n, prefix):
        return cluster.memcached(n, prefix=prefix)

    @staticmethod
    def real(cluster, name):
        """A memcached not started yet (start_on), stopped with the cluster."""
        return cluster.adopt(kt.Memcached(cluster.workdir, name=name))

    @staticmethod
    def base():
        return {"hash": "fnv1a_64", "distribution": "ketama"}

    @staticmethod
    def connect(proxy, pool=None, timeout=kt.IO_TIMEOUT_S):
        return proxy.conn(pool, timeout)

    @staticmethod
    def is_error(reply):
        return reply.startswith((b"SERVER_ERROR", b"CLIENT_ERROR", b"ERROR"))

    @staticmethod
    def set(c, key, value, ttl=0):
        r = c.set(key, value, exptime=ttl)
        return r == b"STORED\r\n", r

    @staticmethod
    def set_many(c, items):
        c.send(b"".join(kt.storage_line("set", k, v) for k, v in items))
        return [(r == b"STORED\r\n", r) for r in (c.readline() for _ in items)]

    @staticmethod
    def get(c, key):
        return _mc_retrieve(c, [key])

    @staticmethod
    def mget(c, keys):
        return _mc_retrieve(c, keys)

    @staticmethod
    def ttl(server, key):
        """Seconds left on <server> itself: None when absent, -1 forever."""
        with server.conn() as c:
            r = c.call(b"mg " + key.encode() + b" t")
        if r == b"EN\r\n":
            return None
        m = re.match(rb"^(?:HD|VA \d+) .*?\bt(-?\d+)", r)
        assert m, "mg %s t: %r" % (key, r)
        return int(m.group(1))

    @staticmethod
    def flush(server):
        server.flush_all()

    @staticmethod
    def half_script(args):
        """Half a reply to anything, then silence on that connection."""
        cmd = args[0].lower()
        if cmd in (b"get", b"gets"):
            return [(0.0, b"VALUE %s 0 10\r\nabc" % args[1]), kt.ScriptedServer.STALL]
        if cmd == b"version":
            return [(0.0, b"VERSION 1."), kt.ScriptedServer.STALL]
        return [(0.0, b"STOR"), kt.ScriptedServer.STALL]


class Redis:
    name = "redis"
    fake = "redis"
    probe = b"ping"
    marked_down = kt.RespError(b"ERR server marked down")
    timed_out = kt.RespError(b"ERR Connection timed out")

    @staticmethod
    def require():
        if kt.redis_bin() is None:
            pytest.skip("redis-server not found")

    @staticmethod
    def start(cluster, n, prefix):
        return cluster.redis(n, prefix=prefix)

    @staticmethod
    def real(cluster, name):
        return cluster.adopt(kt.RedisServer(cluster.workdir, name=name))

    @staticmethod
    def base():
        return {"redis": True, "hash": "fnv1a_64", "distribution": "ketama", "hash_tag": "{}"}

    @staticmethod
    def connect(proxy, pool=None, timeout=kt.IO_TIMEOUT_S):
        return proxy.resp(pool, timeout)

    @staticmethod
    def is_error(reply):
        return isinstance(reply, kt.RespError)

    @staticmethod
    def set(c, key, value, ttl=0):
        r = c.call("SET", key, value, *(("EX", ttl) if ttl else ()))
        return r == b"OK" and isinstance(r, kt.RespStatus), r

    @staticmethod
    def set_many(c, items):
        replies = c.pipeline([("SET", k, v) for k, v in items])
        return [(r == b"OK" and isinstance(r, kt.RespStatus), r) for r in replies]

    @staticmethod
    def get(c, key):
        r = c.call("GET", key)
        if isinstance(r, kt.RespError):
            return "err", r
        return "ok", {key: r} if r is not None else {}

    @staticmethod
    def mget(c, keys):
        r = c.call("MGET", *keys)
        if isinstance(r, kt.RespError):
            return "err", r
        if not isinstance(r, list) or len(r) != len(keys):
            raise kt.ProtocolError("MGET of %d keys answered %r" % (len(keys), r))
        return "ok", {k: v for k, v in zip(keys, r) if v is not None}

    @staticmethod
    def ttl(server, key):
        with server.conn() as c:
            r = c.call("TTL", key)
        assert isinstance(r, int), r
        return None if r == -2 else r

    @staticmethod
    def flush(server):
        server.flushall()

    @staticmethod
    def half_script(args):
        cmd = args[0].upper()
        if cmd == b"GET":
            return [(0.0, b"$10\r\nabc"), kt.ScriptedServer.STALL]
        if cmd == b"MGET":
            return [(0.0, b"*%d\r\n$10\r\nabc" % (len(args) - 1)), kt.ScriptedServer.STALL]
        if cmd == b"PING":
            return [(0.0, b"+PO"), kt.ScriptedServer.STALL]
        return [(0.0, b"+O"), kt.ScriptedServer.STALL]


PROTOS = {"memcached": Mc, "redis": Redis}

# nutcracker's stats fields, kept next to the new ones
NC_POOL_FIELDS = {"client_eof", "client_err", "client_connections", "server_ejects",
                  "forward_error", "fragments"}
NC_SERVER_FIELDS = {"server_eof", "server_err", "server_timedout", "server_connections",
                    "server_ejected_at", "requests", "request_bytes", "responses",
                    "response_bytes", "in_queue", "in_queue_bytes", "out_queue",
                    "out_queue_bytes"}


# --------------------------------------------------------------------------
# configs, stats, placement


def front_pool(proto, servers, names=NAMES, gutter=None, **extra):
    """A listening pool over <servers> with short timeouts; <gutter> names
    its gutter pool."""
    pool = proto.base()
    pool.update({
        "timeout": TIMEOUT_MS,
        "server_failure_limit": FAILURE_LIMIT,
        "server_retry_timeout": RETRY_MS,
        "server_retry_timeout_max": RETRY_MAX_MS,
    })
    if gutter:
        pool.update({"gutter": gutter, "gutter_ttl": GUTTER_TTL})
    pool.update(extra)
    pool["servers"] = [kt.server_line(s, 1, n) for s, n in zip(servers, names)]
    return pool


def backend_pool(proto, servers, names, **extra):
    """A pool without listen: a gutter or a failover child."""
    pool = {"listen": None}
    pool.update(proto.base())
    pool.update({
        "timeout": TIMEOUT_MS,
        "server_failure_limit": FAILURE_LIMIT,
        "server_retry_timeout": RETRY_MS,
        "server_retry_timeout_max": RETRY_MAX_MS,
    })
    pool.update(extra)
    pool["servers"] = [kt.server_line(s, 1, n) for s, n in zip(servers, names)]
    return pool


def wait_stats(proxy, pred, what, timeout=WAIT_S):
    """Poll the stats port until pred(stats) holds; return those stats."""
    seen = {}

    def poll():
        st = proxy.stats()
        seen["st"] = st
        try:
            return st if pred(st) else None
        except KeyError as e:
            raise AssertionError("%s: stats lack %s: %s" % (
                what, e, json.dumps(st, sort_keys=True)[:4000]))

    st = kt.wait_until(poll, timeout)
    assert st, "%s: not within %.0f s; last stats: %s" % (
        what, timeout, json.dumps(seen.get("st"), sort_keys=True)[:4000])
    return st


def tko_of(st, pool, name):
    return st[pool][name]["server_tko"]


def servers_of(pool_stats):
    return {k: v for k, v in pool_stats.items() if isinstance(v, dict)}


def placement(holders, keys):
    """key -> index in <holders> of the one server that holds it."""
    where = {}
    for i, s in enumerate(holders):
        for k in s.present(keys):
            k = k.decode()
            assert k not in where, "%s held by %s and %s" % (k, holders[where[k]].name, s.name)
            where[k] = i
    return where


def set_all(proto, proxy, keys, tag=b"", pool=None):
    with proto.connect(proxy, pool) as c:
        replies = proto.set_many(c, [(k, k.encode() + b"|" + tag) for k in keys])
    bad = [(k, r) for k, (ok, r) in zip(keys, replies) if not ok]
    assert not bad, "%d sets failed, e.g. %r" % (len(bad), bad[:3])


def assert_ring(proto, proxy, servers, gutters, keys, expected, pool=None):
    """Keys set through the proxy land where <expected> (key -> index in
    <servers>) says, and on no gutter. Polled: the first pass may still race
    the return of a server that stats just reported up."""
    state = {}

    def attempt():
        for s in list(servers) + list(gutters):
            proto.flush(s)
        set_all(proto, proxy, keys, b"ring", pool)
        where = placement(servers, keys)
        on_gutter = set()
        for g in gutters:
            on_gutter |= g.present(keys)
        moved = [(k, expected[k], where.get(k)) for k in keys if where.get(k) != expected[k]]
        state.update(moved=moved, on_gutter=on_gutter)
        return not moved and not on_gutter

    assert kt.wait_until(attempt, 5.0, 0.2), (
        "ring not restored: %d keys elsewhere than before the fault, e.g. (key, before, now) "
        "%r; %d keys on the gutter" % (len(state["moved"]), state["moved"][:5],
                                       len(state["on_gutter"])))


def log_lines(proxy, word, name, addr):
    """Proxy log lines with <word> naming the server <name> or <addr>."""
    with open(proxy.logpath, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    pat = re.compile(r"(\b%s\b|%s)" % (re.escape(name), re.escape(addr)))
    return [ln for ln in text.splitlines() if word in ln and pat.search(ln)]


def kill9(server):
    server.proc.kill()
    server.proc.wait(kt.STOP_TIMEOUT_S)


def sigstop(server):
    os.kill(server.proc.pid, signal.SIGSTOP)


def sigcont(server):
    if server.proc is not None and server.proc.poll() is None:
        os.kill(server.proc.pid, signal.SIGCONT)


# --------------------------------------------------------------------------
# a client under load


class Load:
    """A thread with one client connection doing, over and over, a set then
    a get of each key and every fifth key a multi-get of four keys spread
    over the ring; every request is timed and recorded. Values are
    b"<key>|<n>", so a reply carrying another key's value is seen. On any
    error the connection is dropped and a new one opened."""

    def __init__(self, proto, proxy, keys, hops=1, pool=None):
        self.proto = proto
        self.proxy = proxy
        self.keys = list(keys)
        self.pool = pool
        self.sock_timeout = bound_s(hops) + 3.0
        self.records = []  # (op, keys, value written, kind, data, elapsed)
        self.crash = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        self._thread.join(self.sock_timeout + kt.STOP_TIMEOUT_S)

    def wait_ops(self, n, timeout=WAIT_S):
        """Wait until <n> more requests have been made."""
        start = len(self.records)
        assert kt.wait_until(lambda: len(self.records) >= start + n or self.crash, timeout), \
            "the load made %d requests in %.0f s" % (len(self.records) - start, timeout)
        assert self.crash is None, self.crash

    def _one(self, conn, op, keys, value):
        t0 = time.monotonic()
        try:
            if op == "set":
                ok, r = self.proto.set(conn, keys[0], value)
                kind, data = ("ok", None) if ok else ("err", r)
            elif op == "get":
                kind, data = self.proto.get(conn, keys[0])
            else:
                kind, data = self.proto.mget(conn, keys)
            broken = False
        except (OSError, EOFError, ValueError, kt.ProtocolError) as e:
            kind, data, broken = "err", repr(e), True
        self.records.append((op, keys, value, kind, data, time.monotonic() - t0))
        return broken

    def _run(self):
        try:
            n = len(self.keys)
            step = n // 4 + 1
            conn, i = None, 0
            while not self._stop.is_set():
                if conn is None:
                    t0 = time.monotonic()
                    try:
                        conn = self.proto.connect(self.proxy, self.pool, self.sock_timeout)
                    except OSError as e:
                        self.records.append(("connect", (), None, "err", repr(e),
                                             time.monotonic() - t0))
                        self._stop.wait(0.05)
                        continue
                k = self.keys[i % n]
                batch = [("set", [k], b"%s|%d" % (k.encode(), i)), ("get", [k], None)]
                if i % 5 == 0:
                    batch.append(("mget", [self.keys[(i + j * step) % n] for j in range(4)],
                                  None))
                for op, keys, value in batch:
                    if self._one(conn, op, keys, value):
                        conn.close()
                        conn = None
                        break
                i += 1
            if conn is not None:
                conn.close()
        except Exception as e:  # reported by check(), never lost in the thread
            self.crash = repr(e)

    @property
    def max_wait(self):
        return max((r[5] for r in self.records), default=0.0)

    def check(self, healthy, every_request_succeeds, hops=1):
        """The no-hang bound; no error touching a healthy key; healthy keys
        read what was last written; no reply carries another key's value;
        with <every_request_succeeds> (a gutter or failover child takes what
        fails), no error at all."""
        assert self.crash is None, "load thread crashed: %s" % self.crash
        assert self.records, "the load made no request"
        slow = [r for r in self.records if r[5] > bound_s(hops)]
        assert not slow, "%d requests waited more than %.2f s, e.g. %r" % (
            len(slow), bound_s(hops), [(r[0], r[1], r[3], r[4], round(r[5], 2))
                                      for r in slow[:5]])
        errors = [r for r in self.records if r[3] == "err"]
        touching = [r for r in errors if not r[1] or set(r[1]) & healthy]
        assert not touching, "%d of %d requests touching healthy keys failed, e.g. %r" % (
            len(touching), len(self.records), [(r[0], r[1], r[4]) for r in touching[:5]])
        if every_request_succeeds:
            assert not errors, ("%d requests failed although failures go to the gutter, "
                                "e.g. %r" % (len(errors), [(r[0], r[1], r[4])
                                                          for r in errors[:5]]))
        expect = {k: k.encode() + b"|init" for k in self.keys}
        wrong, foreign = [], []
        for op, keys, value, kind, data, _ in self.records:
            if kind != "ok":
                continue
            if op == "set":
                expect[keys[0]] = value
                continue
            for k in keys:
                v = data.get(k)
                if v is not None and not v.startswith(k.encode() + b"|"):
                    foreign.append((op, k, v))
                if k in healthy and v != expect[k]:
                    wrong.append((op, k, v, expect[k]))
            stray = set(data) - set(keys)
            if stray:
                foreign.append((op, keys, sorted(stray)))
        assert not foreign, "replies carried other keys' values: %r" % foreign[:5]
        assert not wrong, "healthy keys read wrong values (op, key, got, expected): %r" % (
            wrong[:5])


# --------------------------------------------------------------------------
# the six faults, with a gutter, under load


SCENARIOS = {
    # fault: (starts healthy, expected server_tko values once down)
    "kill9": (True, (1, 2)),
    "sigstop": (True, (1,)),
    "refused": (False, (2,)),
    "silent": (False, (1,)),
    "half": (False, (1,)),
    "flap": (True, (1, 2)),
}


def _fault_slot(cluster, proto, fault):
    if SCENARIOS[fault][0]:
        return proto.start(cluster, 1, "s")[0]
    if fault == "refused":
        return Vacant()
    if fault == "silent":
        return cluster.silent()
    return cluster.scripted(proto.half_script, proto.fake)


def _recover(cluster, proto, fault, slot):
    """Undo the fault; returns the server now in the slot."""
    if fault in ("kill9", "flap") and slot.proc.poll() is not None:
        return slot.start_on(slot.port)
    if fault in ("sigstop", "flap"):
        sigcont(slot)
        return slot
    port = slot.port
    slot.stop()  # a fake: a real server takes its port
    return proto.real(cluster, "s2-real").start_on(port)


def _wait_down(proxy, name, states, what):
    st = wait_stats(proxy, lambda s: tko_of(s, "front", name) != 0, what + ": server TKO")
    assert tko_of(st, "front", name) in states, st["front"][name]
    return st


def _wait_up(proxy, name, what, pool="front"):
    """Once it was seen TKO: back up, and no other server of its pool TKO."""
    return wait_stats(proxy, lambda s: (tko_of(s, pool, name) == 0
                                        and s[pool]["server_tko"] == 0),
                      what + ": server back up")


def _check_gutter_holds(proto, proxy, dead, gutter, healthy_servers, waits):
    """Dead keys set now (TTL forever) land on the gutter, TTL <= gutter_ttl,
    and on no healthy server."""
    with proto.connect(proxy) as c:
        for k in dead:
            ok, r = waits(proto.set, c, k, k.encode() + b"|gut")
            assert ok, "set %s while its server is down: %r" % (k, r)
    ttls = {k: proto.ttl(gutter, k) for k in dead}
    bad = {k: t for k, t in ttls.items() if t is None or not 1 <= t <= GUTTER_TTL}
    assert not bad, "dead keys on the gutter with TTL outside 1..%d (None: absent): %r" % (
        GUTTER_TTL, dict(list(bad.items())[:5]))
    for s in healthy_servers:
        held = s.present(dead)
        assert not held, "%s holds keys of the dead server: %r" % (s.name, sorted(held)[:5])


def _gutter_scenario(cluster, proto, fault):
    proto.require()
    scenario = "%s/%s" % (proto.name, fault)
    reals = proto.start(cluster, 3, "s")
    gutter, = proto.start(cluster, 1, "gutter")
    slot = _fault_slot(cluster, proto, fault)
    servers = reals[:FAULT] + [slot] + reals[FAULT:]
    name, addr = NAMES[FAULT], slot.addr
    proxy = cluster.proxy({
        "front": front_pool(proto, servers, gutter="gutter"),
        "gutter": backend_pool(proto, [gutter], ["g1"]),
    })
    keys = kt.make_keys(NKEYS, "fo-" + fault)
    set_all(proto, proxy, keys, b"init")
    starts_healthy = SCENARIOS[fault][0]
    if starts_healthy:
        where = placement(servers, keys)
        assert not gutter.present(keys), "keys on the gutter while every server is up"
    else:
        # the faulty server's keys went to the gutter: that is its share
        where = placement([gutter if i == FAULT else s for i, s in enumerate(servers)], keys)
    assert len(where) == len(keys), "keys lost: %r" % sorted(set(keys) - set(where))[:5]
    dead = [k for k in keys if where[k] == FAULT]
    healthy = {k for k in keys if where[k] != FAULT}
    assert dead and healthy, where
    waits = Waits()
    cycles = ["kill9", "sigstop", "kill9", "sigstop"] if fault == "flap" else [fault]

    with Load(proto, proxy, keys) as load:
        load.wait_ops(30)
        for n, cycle in enumerate(cycles, 1):
            what = "%s cycle %d (%s)" % (scenario, n, cycle)
            failures = proxy.stats()["front"][name]["probe_failures"]
            if cycle == "kill9":
                kill9(slot)
            elif cycle == "sigstop":
                sigstop(slot)
            st = _wait_down(proxy, name, SCENARIOS[cycle][1], what)
            assert st["front"]["server_tko"] == 1, st["front"]
            if n == 1:
                _check_gutter_holds(proto, proxy, dead, gutter, reals, waits)
            load.wait_ops(LOAD_ROUND)
            # probes go on while it is down, and fail
            wait_stats(proxy, lambda s: s["front"][name]["probe_failures"] > failures,
                       what + ": a failed probe")
            if fault == "half":
                assert any(a[0].lower() == proto.probe for a in slot.requests), \
                    "no %r probe reached the server: %r" % (proto.probe, slot.requests[-5:])
            slot = _recover(cluster, proto, cycle if fault == "flap" else fault, slot)
            servers[FAULT] = slot
            _wait_up(proxy, name, what)
            load.wait_ops(40)
        if fault == "flap":
            # and stutters shorter than it takes to notice
            for _ in range(3):
                sigstop(slot)
                time.sleep(0.15)  # the fault's length, not a condition
                sigcont(slot)
                load.wait_ops(10)
            _wait_up(proxy, name, scenario + " after stutters")
            load.wait_ops(40)
    report(scenario, max(load.max_wait, waits.max))
    waits.check()
    load.check(healthy, every_request_succeeds=True)

    st = proxy.stats()
    front = st["front"]
    assert front["gutter_requests"] > 0, front
    # a failed probe at least while down, and the one that brought it back
    assert front[name]["probe_failures"] >= len(cycles), front[name]
    assert front[name]["probes"] >= front[name]["probe_failures"] + len(cycles), front[name]
    assert all(s["server_tko"] == 0 for s in servers_of(front).values()), front
    assert len(log_lines(proxy, "TKO", name, addr)) >= len(cycles), kt.tail(proxy.logpath)
    assert len(log_lines(proxy, "back up", name, addr)) >= len(cycles), kt.tail(proxy.logpath)
    for other, s in zip(NAMES, servers):
        if other != name:
            assert not log_lines(proxy, "TKO", other, s.addr), kt.tail(proxy.logpath)
    assert_ring(proto, proxy, servers, [gutter], keys, where)
    # server_tkos counts the TKO transitions; server_ejects only servers leaving the ring
    assert front["server_tkos"] >= len(cycles), (
        "server_tkos should count the %d TKO transitions: %r" % (len(cycles), front))
    assert front["server_ejects"] == 0, front


@pytest.mark.parametrize("proto", ["memcached", "redis"])
def test_kill9_under_load_moves_keys_to_gutter_and_back(cluster, proto):
    """kill -9: the connection breaks, reconnects are refused (hard TKO);
    the dead server's keys go to the gutter with a short TTL, the others
    never notice; restarted on its port it comes back after a probe."""
    _gutter_scenario(cluster, PROTOS[proto], "kill9")


@pytest.mark.parametrize("proto", ["memcached", "redis"])
def test_sigstop_times_out_to_gutter_and_sigcont_returns(cluster, proto):
    """SIGSTOP: the kernel still accepts and buffers, nothing answers;
    requests time out, are retried on the gutter, and after
    server_failure_limit timeouts the server is soft TKO; its probes time
    out until SIGCONT, and the replies it then sends to stale requests do
    not confuse anyone."""
    _gutter_scenario(cluster, PROTOS[proto], "sigstop")


@pytest.mark.parametrize("proto", ["memcached", "redis"])
def test_connection_refused_is_hard_tko_to_gutter(cluster, proto):
    """Nothing listens: the first refusal marks the server hard TKO at once;
    probes are refused until a server starts on that port."""
    _gutter_scenario(cluster, PROTOS[proto], "refused")


@pytest.mark.parametrize("proto", ["memcached", "redis"])
def test_silent_server_is_soft_tko_to_gutter(cluster, proto):
    """A server that accepts and never answers: only timeouts tell."""
    _gutter_scenario(cluster, PROTOS[proto], "silent")


@pytest.mark.parametrize("proto", ["memcached", "redis"])
def test_half_reply_then_stall_is_soft_tko_to_gutter(cluster, proto):
    """A server that sends half a reply (VALUE k 0 10 / abc, $10 / abc) and
    stalls: the proxy must time out mid-reply, not wait for the rest."""
    _gutter_scenario(cluster, PROTOS[proto], "half")


@pytest.mark.parametrize("proto", ["memcached", "redis"])
def test_flapping_server(cluster, proto):
    """Killed and restarted on its port, stopped and continued, twice each,
    then three stutters shorter than the timeout: every transition is
    counted and logged, and the ring ends as it began."""
    _gutter_scenario(cluster, PROTOS[proto], "flap")


# --------------------------------------------------------------------------
# without a gutter


@pytest.mark.parametrize("proto", ["memcached", "redis"])
def test_without_gutter_tko_server_keys_fail_fast(cluster, proto):
    """auto_eject_hosts false, no gutter: the refused server is hard TKO and
    its keys fail at once with "server marked down"; the ring keeps it, so
    the others' keys stay where they are."""
    proto = PROTOS[proto]
    proto.require()
    reals = proto.start(cluster, 3, "s")
    slot = Vacant()
    servers = reals[:FAULT] + [slot] + reals[FAULT:]
    proxy = cluster.proxy({"front": front_pool(proto, servers, auto_eject_hosts=False)})
    keys = kt.make_keys(120, "ff-" + proto.name)
    waits = Waits()
    first = {}
    with proto.connect(proxy) as c:
        for k in keys:
            first[k] = waits(proto.set, c, k, k.encode() + b"|1")
    failed = [k for k, (ok, _) in first.items() if not ok]
    where = placement(reals, keys)
    assert sorted(where) == sorted(set(keys) - set(failed)), "stored keys vs keys held"
    assert len(keys) // 10 < len(failed) < len(keys) // 2, len(failed)
    assert all(proto.is_error(first[k][1]) for k in failed), [first[k] for k in failed[:5]]
    # the first refusal marks it; every later request fails fast
    not_fast = [first[k][1] for k in failed[1:] if first[k][1] != proto.marked_down]
    assert not not_fast, not_fast[:5]
    with proto.connect(proxy) as c:
        second = {k: waits(proto.set, c, k, k.encode() + b"|2") for k in keys}
    assert sorted(k for k, (ok, _) in second.items() if not ok) == sorted(failed)
    assert all(second[k][1] == proto.marked_down for k in failed)
    report("%s/no-gutter-refused" % proto.name, waits.max)
    waits.check()
    st = proxy.stats()["front"]
    assert st[NAMES[FAULT]]["server_tko"] == 2, st
    assert st["server_tko"] == 1, st
    assert st["tko_fail_fast"] >= 2 * len(failed) - 1, st
    assert st["gutter_requests"] == 0, st
    assert st["fail_open"] == 0, st
    # server_tkos counts the TKO transitions; server_ejects only servers leaving the ring
    assert st["server_tkos"] == 1, "server_tkos should count the TKO transition: %r" % st
    assert st["server_ejects"] == 0, st


def test_health_is_shared_by_worker_threads(cluster):
    """Once one worker has seen the silent server time out into TKO, a
    client on any worker gets "server marked down" at once, never a timeout
    of its own: eight new connections spread over both workers."""
    reals = cluster.memcached(3, prefix="s")
    silent = cluster.silent()
    servers = reals[:FAULT] + [silent] + reals[FAULT:]
    proxy = cluster.proxy({"front": front_pool(Mc, servers)})
    keys = kt.make_keys(60, "shared")
    waits = Waits()
    with Mc.connect(proxy) as c:
        replies = {k: waits(Mc.set, c, k, b"v") for k in keys}
    dead = [k for k, (ok, _) in replies.items() if not ok]
    assert dead
    assert replies[dead[0]][1] == Mc.timed_out, replies[dead[0]]
    wait_stats(proxy, lambda s: tko_of(s, "front", NAMES[FAULT]) == 1, "silent server soft TKO")
    before = proxy.stats()["front"]["tko_fail_fast"]
    got = []
    for i in range(8):
        with Mc.connect(proxy) as c:
            got.append(waits(Mc.set, c, dead[i % len(dead)], b"v")[1])
    report("memcached/shared-health", waits.max)
    waits.check()
    assert got == [Mc.marked_down] * 8, got
    assert proxy.stats()["front"]["tko_fail_fast"] >= before + 8


@pytest.mark.parametrize("fault", ["refused", "sigstop"])
def test_memcached_multiget_partial_failure_returns_healthy_hits(cluster, fault):
    """No gutter: a multi-get whose fragment for one server fails (refused
    then TKO; or timed out, then TKO) returns the other servers' hits, the
    failed keys read as misses, and the connection goes on in order."""
    reals = cluster.memcached(3, prefix="s")
    slot = Vacant() if fault == "refused" else cluster.memcached(1, prefix="s")[0]
    servers = reals[:FAULT] + [slot] + reals[FAULT:]
    proxy = cluster.proxy({"front": front_pool(Mc, servers)})
    keys = kt.make_keys(96, "mg-" + fault)
    try:
        if fault == "sigstop":
            set_all(Mc, proxy, keys, b"v")
            where = placement(servers, keys)
            sigstop(slot)
        else:
            with Mc.connect(proxy) as c:
                for k in keys:
                    Mc.set(c, k, k.encode() + b"|v")
            where = placement([Nobody if i == FAULT else s for i, s in enumerate(servers)], keys)
        healthy = {k for k, i in where.items() if i != FAULT}
        dead = set(keys) - healthy
        assert dead and healthy and all(where[k] == FAULT for k in dead if k in where)
        waits = Waits()
        mixed = 0
        with Mc.connect(proxy) as c:
            for rnd in range(3):  # before and after it is marked
                for i in range(0, len(keys), 16):
                    batch = keys[i:i + 16]
                    mixed += bool(set(batch) & dead and set(batch) & healthy)
                    kind, items = waits(Mc.mget, c, batch)
                    assert kind == "ok", (batch, items)
                    assert set(items) == set(batch) & healthy, (
                        "hits %r, expected the healthy keys %r" % (
                            sorted(items), sorted(set(batch) & healthy)))
                    assert all(v == k.encode() + b"|v" for k, v in items.items()), items
            # pipelined: the partial reply does not disturb the next one
            h = sorted(healthy)[0]
            c.send(b"get " + " ".join(keys[:16]).encode() + b"\r\nget " + h.encode() + b"\r\n")
            kind, items = _read_values(c)
            assert kind == "ok" and set(items) == set(keys[:16]) & healthy, items
            assert _read_values(c) == ("ok", {h: h.encode() + b"|v"})
        assert mixed >= 2
        report("memcached/multiget-%s" % fault, waits.max)
        waits.check()
        st = wait_stats(proxy, lambda s: tko_of(s, "front", NAMES[FAULT]) != 0, "server TKO")
        assert st["front"]["tko_fail_fast"] > 0, st["front"]
    finally:
        if fault == "sigstop":
            sigcont(slot)


@pytest.mark.parametrize("fault", ["refused", "sigstop"])
@pytest.mark.parametrize("gutter", [False, True], ids=["no-gutter", "gutter"])
def test_redis_mget_with_a_failed_server(cluster, gutter, fault):
    """Redis MGET over a failed server: without a gutter an error for the
    whole command (the connection stays usable); with a gutter the failed
    server's keys are read from the gutter."""
    Redis.require()
    reals = cluster.redis(3, prefix="s")
    slot = Vacant() if fault == "refused" else cluster.redis(1, prefix="s")[0]
    servers = reals[:FAULT] + [slot] + reals[FAULT:]
    pools = {"front": front_pool(Redis, servers, gutter="gutter" if gutter else None)}
    gut = None
    if gutter:
        gut, = cluster.redis(1, prefix="gutter")
        pools["gutter"] = backend_pool(Redis, [gut], ["g1"])
    proxy = cluster.proxy(pools)
    keys = kt.make_keys(64, "rmget-%s-%s" % (gutter, fault))
    waits = Waits()
    try:
        if fault == "sigstop":
            set_all(Redis, proxy, keys, b"v")
            where = placement(servers, keys)
            sigstop(slot)
        else:
            with Redis.connect(proxy) as c:
                for k in keys:
                    waits(Redis.set, c, k, k.encode() + b"|v")
            where = placement([(gut or Nobody) if i == FAULT else s
                               for i, s in enumerate(servers)], keys)
        healthy = sorted(k for k, i in where.items() if i != FAULT)
        dead = sorted(set(keys) - set(healthy))
        assert dead and healthy
        with Redis.connect(proxy) as c:
            for rnd in range(3):  # before and after it is marked
                for i in range(0, len(dead)):
                    batch = [healthy[i % len(healthy)], dead[i], healthy[(i + 1) % len(healthy)]]
                    kind, got = waits(Redis.mget, c, batch)
                    if not gutter:
                        assert kind == "err" and got.startswith(b"ERR"), (batch, got)
                        continue
                    assert kind == "ok", (batch, got)
                    expect = {k: k.encode() + b"|v" for k in batch if k in healthy}
                    if fault == "refused" or rnd:
                        expect[dead[i]] = dead[i].encode() + b"|v"
                    assert got == expect, (batch, got, expect)
                if gutter and fault == "sigstop" and not rnd:
                    # its keys were on the stopped server: the gutter has
                    # them from now on
                    for k in dead:
                        assert waits(Redis.set, c, k, k.encode() + b"|v")[0]
                # the connection goes on, and healthy-only MGETs work
                assert c.call("MGET", *healthy) == [k.encode() + b"|v" for k in healthy]
        report("redis/mget-%s-%s" % ("gutter" if gutter else "no-gutter", fault), waits.max)
        waits.check()
        if gutter:
            ttls = {k: Redis.ttl(gut, k) for k in dead}
            assert all(t is not None and 1 <= t <= GUTTER_TTL for t in ttls.values()), ttls
        st = wait_stats(proxy, lambda s: tko_of(s, "front", NAMES[FAULT]) != 0, "server TKO")
        assert (st["front"]["gutter_requests"] > 0) == gutter, st["front"]
    finally:
        if fault == "sigstop":
            sigcont(slot)


# --------------------------------------------------------------------------
# max_tko_share, auto_eject_hosts, failover routes


@pytest.mark.parametrize("share,most", [(None, 2), (0.25, 1), (0.75, 3)],
                         ids=["default", "0.25", "0.75"])
def test_max_tko_share_fails_open(cluster, share, most):
    """Four servers, three refusing: at most floor(max_tko_share * 4) are
    marked TKO (default share 0.5); a refusing server past that share keeps
    its traffic ("fails open") and its requests fail one by one instead of
    being marked down; the healthy server's keys never notice."""
    real, = cluster.memcached(1, prefix="s")
    servers = [real, Vacant(), Vacant(), Vacant()]
    extra = {} if share is None else {"max_tko_share": share}
    proxy = cluster.proxy({"front": front_pool(Mc, servers, **extra)})
    keys = kt.make_keys(120, "share")
    waits = Waits()
    peak = 0
    for _ in range(3):
        with Mc.connect(proxy) as c:
            replies = {k: waits(Mc.set, c, k, b"v")[1] for k in keys}
        st = proxy.stats()["front"]
        peak = max(peak, st["server_tko"],
                   sum(1 for s in servers_of(st).values() if s["server_tko"]))
    report("memcached/max_tko_share-%s" % share, waits.max)
    waits.check()
    assert peak <= most, "%d servers TKO at once, at most %d allowed" % (peak, most)
    st = proxy.stats()["front"]
    marked = sorted(n for n, s in servers_of(st).items() if s["server_tko"])
    assert len(marked) == most and st["server_tko"] == most, st
    assert "s1" not in marked, st
    stored = {k for k, r in replies.items() if r == b"STORED\r\n"}
    down = {k for k, r in replies.items() if r == Mc.marked_down}
    other = set(keys) - stored - down
    assert stored == {k.decode() for k in real.present(keys)} and stored, len(stored)
    assert down, "no key answered %r" % Mc.marked_down
    assert all(replies[k].startswith(b"SERVER_ERROR") for k in other), \
        [replies[k] for k in other][:5]
    if most < 3:
        assert other, "the server past the share should fail request by request"
        assert st["fail_open"] > 0, st
    else:
        assert not other, [replies[k] for k in other][:5]
        assert st["fail_open"] == 0, st


def test_auto_eject_rehashes_then_rejoins(cluster, tmp_path):
    """auto_eject_hosts, no gutter: the killed server leaves the ring and
    its keys re-hash to the others exactly as in a pool of the three (the
    others' keys stay put); restarted, it rejoins after a probe and the ring
    is the original one."""
    servers = cluster.memcached(4, prefix="s")
    victim = servers[FAULT]
    live = [s for i, s in enumerate(servers) if i != FAULT]
    proxy = cluster.proxy({"front": front_pool(Mc, servers, auto_eject_hosts=True)})
    keys = kt.make_keys(120, "eject")
    set_all(Mc, proxy, keys, b"v")
    where = placement(servers, keys)
    dead = [k for k in keys if where[k] == FAULT]
    assert dead
    waits = Waits()
    kill9(victim)
    with Mc.connect(proxy) as c:
        def marked():
            for k in dead:
                waits(Mc.set, c, k, b"v")
            return tko_of(proxy.stats(), "front", NAMES[FAULT]) != 0
        assert kt.wait_until(marked, WAIT_S), proxy.stats()["front"]
    for s in live:
        s.flush_all()
    with Mc.connect(proxy) as c:
        replies = {k: waits(Mc.set, c, k, b"v") for k in keys}
    assert all(ok for ok, _ in replies.values()), [r for _, r in replies.values() if r][:5]
    ejected = placement(live, keys)
    assert sorted(ejected) == sorted(keys)
    # the others' keys did not move
    moved = [k for k in keys if where[k] != FAULT and live[ejected[k]] is not servers[where[k]]]
    assert not moved, moved[:5]
    # the dead server's keys hash as in a ring without it
    ref = kt.Proxy(tmp_path, {"ref": front_pool(Mc, live, [n for i, n in enumerate(NAMES)
                                                        if i != FAULT])}, name="ref")
    try:
        ref.start()
        for s in live:
            s.flush_all()
        set_all(Mc, ref, keys, b"v")
        expected = placement(live, keys)
    finally:
        ref.stop()
    assert ejected == expected, [(k, ejected[k], expected[k]) for k in keys
                                 if ejected[k] != expected[k]][:5]
    victim.start_on(victim.port)
    _wait_up(proxy, NAMES[FAULT], "auto_eject")
    st = proxy.stats()["front"]
    assert st[NAMES[FAULT]]["probes"] >= 1, st
    assert st["server_ejects"] >= 1, st  # auto_eject_hosts: it left the ring
    assert st["server_tkos"] >= 1, st
    report("memcached/auto_eject", waits.max)
    waits.check()
    assert_ring(Mc, proxy, servers, [], keys, where)


@pytest.mark.parametrize("proto", ["memcached", "redis"])
def test_failover_route_tries_the_next_child(cluster, proto):
    """route failover [primary, backup]: everything goes to the primary pool
    while it is healthy; a killed primary server's keys go to the backup
    pool with their TTL clamped to the route's gutter_ttl, the others stay;
    restarted, the primary takes them back."""
    proto = PROTOS[proto]
    proto.require()
    primary = proto.start(cluster, 3, "p")
    backup, = proto.start(cluster, 1, "b")
    names = ["p1", "p2", "p3"]
    front = {"route": {"type": "failover", "children": ["primary", "backup"]},
             "gutter_ttl": GUTTER_TTL}
    if proto is Redis:
        front["redis"] = True
    proxy = cluster.proxy({
        "front": front,
        "primary": backend_pool(proto, primary, names),
        "backup": backend_pool(proto, [backup], ["b1"]),
    })
    keys = kt.make_keys(NKEYS, "route-" + proto.name)
    set_all(proto, proxy, keys, b"init")
    where = placement(primary, keys)
    assert len(where) == len(keys) and not backup.present(keys)
    dead = [k for k in keys if where[k] == FAULT]
    healthy = {k for k in keys if where[k] != FAULT}
    assert dead and healthy
    waits = Waits()
    with Load(proto, proxy, keys, hops=2) as load:
        load.wait_ops(30)
        kill9(primary[FAULT])
        wait_stats(proxy, lambda s: tko_of(s, "primary", names[FAULT]) != 0, "primary TKO")
        with proto.connect(proxy) as c:
            for k in dead:
                ok, r = waits(proto.set, c, k, k.encode() + b"|b")
                assert ok, (k, r)
        ttls = {k: proto.ttl(backup, k) for k in dead}
        assert all(t is not None and 1 <= t <= GUTTER_TTL for t in ttls.values()), ttls
        for i, s in enumerate(primary):
            if i != FAULT:
                assert not s.present(dead), s.name
        load.wait_ops(LOAD_ROUND)
        primary[FAULT].start_on(primary[FAULT].port)
        wait_stats(proxy, lambda s: tko_of(s, "primary", names[FAULT]) == 0, "primary back up")
        load.wait_ops(40)
    report("%s/failover-route" % proto.name, max(load.max_wait, waits.max))
    waits.check(hops=2)
    load.check(healthy, every_request_succeeds=True, hops=2)
    st = proxy.stats()
    assert st["front"]["gutter_requests"] > 0, st["front"]
    assert_ring(proto, proxy, primary, [backup], keys, where)


# --------------------------------------------------------------------------
# what lands on a gutter expires


def _gutter_with_refused(cluster, proto, nkeys=100, **extra):
    """Three real servers, a refused one, a gutter; -> proxy, reals, gutter,
    dead keys (on the gutter), healthy keys. <extra>: keys of the listening
    pool (None: left out)."""
    proto.require()
    reals = proto.start(cluster, 3, "s")
    gutter, = proto.start(cluster, 1, "gutter")
    servers = reals[:FAULT] + [Vacant()] + reals[FAULT:]
    proxy = cluster.proxy({
        "front": front_pool(proto, servers, gutter="gutter", **extra),
        "gutter": backend_pool(proto, [gutter], ["g1"]),
    })
    keys = kt.make_keys(nkeys, "ttl-" + proto.name)
    set_all(proto, proxy, keys, b"v")
    dead = sorted(k.decode() for k in gutter.present(keys))
    healthy = sorted(set(keys) - set(dead))
    assert len(dead) >= 14 and healthy, len(dead)
    proto.flush(gutter)
    return proxy, reals, gutter, dead, healthy


def test_memcached_gutter_clamps_every_exptime(cluster):
    """set/add/replace/cas/touch/gat landing on the gutter: exptime 0
    (forever), long, absolute or short, the item never outlives gutter_ttl
    (a shorter exptime stays shorter)."""
    proxy, reals, gutter, dead, healthy = _gutter_with_refused(cluster, Mc)
    k = iter(dead)
    waits = Waits()
    limit = {}
    with Mc.connect(proxy) as c:
        for exptime in (0, 3600, int(time.time()) + 3600):
            key = next(k)
            assert waits(Mc.set, c, key, b"v", exptime)[0], key
            limit[key] = GUTTER_TTL
        key = next(k)
        assert waits(Mc.set, c, key, b"v", 5)[0]
        limit[key] = 5
        key = next(k)
        assert waits(c.store, "add", key, b"v") == b"STORED\r\n"
        limit[key] = GUTTER_TTL
        key = next(k)
        assert waits(Mc.set, c, key, b"v", 5)[0]
        assert waits(c.store, "replace", key, b"w", exptime=0) == b"STORED\r\n"
        limit[key] = GUTTER_TTL
        key = next(k)
        assert waits(Mc.set, c, key, b"v", 5)[0]
        item = waits(c.gets, key)
        assert item is not None and item.cas is not None, item
        assert waits(c.store, "cas", key, b"w", exptime=3600, cas=item.cas) == b"STORED\r\n"
        limit[key] = GUTTER_TTL
        key = next(k)
        assert waits(Mc.set, c, key, b"v", 5)[0]
        assert waits(c.call, "touch %s 0" % key) == b"TOUCHED\r\n"
        limit[key] = GUTTER_TTL
        key = next(k)
        assert waits(Mc.set, c, key, b"v", 5)[0]
        c.send("gat 3600 %s\r\n" % key)
        assert waits(_read_values, c) == ("ok", {key: b"v"})
        limit[key] = GUTTER_TTL
    ttls = {key: Mc.ttl(gutter, key) for key in limit}
    bad = {key: (t, limit[key]) for key, t in ttls.items()
           if t is None or not 1 <= t <= limit[key]}
    assert not bad, "gutter TTLs (got, at most): %r" % bad
    assert not any(s.present(limit) for s in reals)
    report("memcached/gutter-ttl", waits.max)
    waits.check()


def test_redis_gutter_clamps_every_write(cluster):
    """Every write landing on the gutter is followed by PEXPIRE LT: strings,
    counters, hashes, lists, sets, sorted sets, EXPIRE, PERSIST, MSET; the
    client still gets the write's own reply; a shorter TTL stays shorter."""
    proxy, reals, gutter, dead, healthy = _gutter_with_refused(cluster, Redis)
    k = iter(dead)
    limit = {}
    waits = Waits()
    with Redis.connect(proxy) as c:
        def expect(key, reply, *cmd, most=GUTTER_TTL):
            got = waits(c.call, *cmd)
            assert got == reply, (cmd, got)
            limit[key] = most
        key = next(k)
        expect(key, b"OK", "SET", key, "v")
        key = next(k)
        expect(key, b"OK", "SET", key, "v", "EX", 3600)
        key = next(k)
        expect(key, b"OK", "SETEX", key, 3600, "v")
        key = next(k)
        expect(key, b"OK", "SET", key, "v", "EX", 5, most=5)
        key = next(k)
        expect(key, 1, "INCR", key)
        key = next(k)
        expect(key, 1, "APPEND", key, "v")
        key = next(k)
        expect(key, 1, "HSET", key, "f", "v")
        key = next(k)
        expect(key, 1, "RPUSH", key, "v")
        key = next(k)
        expect(key, 1, "SADD", key, "v")
        key = next(k)
        expect(key, 1, "ZADD", key, 1, "v")
        key = next(k)
        expect(key, b"OK", "SET", key, "v")
        expect(key, 1, "EXPIRE", key, 3600)
        key = next(k)
        expect(key, b"OK", "SET", key, "v")
        expect(key, 1, "PERSIST", key)
        key = next(k)
        a, b = "{%s}:a" % key, "{%s}:b" % key  # hash tags: the same server
        expect(a, b"OK", "MSET", a, "1", b, "2")
        limit[b] = GUTTER_TTL
    ttls = {key: Redis.ttl(gutter, key) for key in limit}
    bad = {key: (t, limit[key]) for key, t in ttls.items()
           if t is None or not 1 <= t <= limit[key]}
    assert not bad, "gutter TTLs (got, at most; None: absent, -1: forever): %r" % bad
    assert not any(s.present(limit) for s in reals)
    report("redis/gutter-ttl", waits.max)
    waits.check()


@pytest.mark.parametrize("proto", ["memcached", "redis"])
def test_gutter_ttl_defaults_to_10_s(cluster, proto):
    """Without gutter_ttl, what lands on the gutter lives 10 s at most."""
    proto = PROTOS[proto]
    proxy, reals, gutter, dead, healthy = _gutter_with_refused(cluster, proto, gutter_ttl=None)
    with proto.connect(proxy) as c:
        for k, ttl in zip(dead[:4], (0, 3600, 0, 3600)):
            ok, r = proto.set(c, k, b"v", ttl)
            assert ok, (k, r)
    ttls = {k: proto.ttl(gutter, k) for k in dead[:4]}
    assert all(t is not None and 1 <= t <= 10 for t in ttls.values()), ttls


class Unreachable(Vacant):
    """An address whose connect fails at once, inside the connect call
    (ENETUNREACH for a multicast address here; where the route differs it
    fails by the pool's timeout instead, and the test still holds)."""

    @property
    def addr(self):
        return "224.0.0.1:11211"


@pytest.mark.parametrize("proto", ["memcached", "redis"])
def test_split_request_whose_part_fails_at_once(cluster, proto):
    """A multi-key request split over a healthy server and one whose
    connect fails synchronously (kept in service: max_tko_share 0): the
    failed part moves to the gutter while the request is still being sent,
    and every key comes back once, with its value."""
    proto = PROTOS[proto]
    proto.require()
    real, = proto.start(cluster, 1, "s")
    gutter, = proto.start(cluster, 1, "gutter")
    proxy = cluster.proxy({
        "front": front_pool(proto, [real, Unreachable()], ["s1", "s2"], gutter="gutter",
                            max_tko_share=0),
        "gutter": backend_pool(proto, [gutter], ["g1"]),
    })
    keys = kt.make_keys(40, "sync-" + proto.name)
    set_all(proto, proxy, keys, b"v")
    assert real.present(keys) and gutter.present(keys), "keys should span both servers"
    with proto.connect(proxy) as c:
        for _ in range(20):
            status, got = proto.mget(c, keys)
            assert status == "ok", got
            assert got == {k: k.encode() + b"|v" for k in keys}, sorted(set(keys) - set(got))[:5]
    assert proxy.alive()


def test_whole_failure_after_a_failover_split_is_an_error(cluster):
    """A multi-get whose keys met on one dead server and part on the gutter,
    where every gutter server is dead too: nothing answered, so the client
    gets the error, not a reply of misses."""
    Mc.require()
    proxy = cluster.proxy({
        "front": front_pool(Mc, [Vacant()], ["s1"], gutter="gutter", max_tko_share=0),
        "gutter": backend_pool(Mc, [Vacant(), Vacant()], ["g1", "g2"], max_tko_share=0),
    })
    keys = kt.make_keys(20, "allfail")
    with Mc.connect(proxy) as c:
        status, line = Mc.mget(c, keys)
    assert status == "err" and line.startswith(b"SERVER_ERROR"), (status, line)


def test_idle_connection_closed_by_the_server_is_not_a_failure(cluster):
    """redis-server --timeout 1 closes connections idle for a second: the
    proxy reconnects on the next request, and the server is not marked TKO
    for it (nothing was waiting for an answer)."""
    Redis.require()
    real, = cluster.redis(1, prefix="idle", extra_args=("--timeout", "1"))
    proxy = cluster.proxy({
        "front": front_pool(Redis, [real], ["r1"], server_failure_limit=1, max_tko_share=1,
                            server_connections=2, preconnect=True),
    })
    st = wait_stats(proxy, lambda s: s["front"]["r1"]["server_eof"] >= 2,
                    "the server closing both idle connections", timeout=15)
    assert st["front"]["r1"]["server_tko"] == 0 and st["front"]["server_tkos"] == 0, st["front"]
    with Redis.connect(proxy) as c:
        assert c.call("SET", "k", "v") == b"OK"
        assert c.call("GET", "k") == b"v"


@pytest.mark.parametrize("with_gutter", [True, False])
def test_out_of_memory_goes_to_the_gutter(cluster, with_gutter):
    """A live server that answers SERVER_ERROR out of memory (a real memcached
    with -M and 1 MiB) cannot take the write; the gutter can, for gutter_ttl.
    The server is not marked TKO for it: it answered. Without a gutter the
    client gets the server's own error."""
    full, = cluster.memcached(1, prefix="full", extra_args=("-M", "-m", "1", "-I", "512k"))
    gutter, = cluster.memcached(1, prefix="gutter")
    pools = {"front": front_pool(Mc, [full], ["full"], gutter="gutter" if with_gutter else None)}
    if with_gutter:
        pools["gutter"] = backend_pool(Mc, [gutter], ["g1"])
    proxy = cluster.proxy(pools)
    value = b"x" * 100000
    replies = {}
    with Mc.connect(proxy) as c:
        for i in range(40):
            k = "oom-%d" % i
            replies[k] = c.set(k, value)
    refused = sorted(k for k in replies if not full.present([k]))
    assert refused, "memcached -m 1 took 40 values of 100 KB: %r" % replies
    if with_gutter:
        assert all(r == b"STORED\r\n" for r in replies.values()), replies
        for k in refused:
            ttl = Mc.ttl(gutter, k)
            assert ttl is not None and 0 < ttl <= GUTTER_TTL, (k, ttl)
        assert proxy.stats()["front"]["gutter_requests"] >= len(refused)
    else:
        for k in refused:
            assert replies[k] == b"SERVER_ERROR out of memory storing object\r\n", replies[k]
    st = proxy.stats()["front"]
    assert st["full"]["server_tko"] == 0 and st["server_tkos"] == 0, st


@pytest.mark.parametrize("proto", ["memcached", "redis"])
def test_a_miss_is_not_retried_on_the_gutter(cluster, proto):
    """The gutter is for failures only: a healthy server's miss stays a miss
    even when the gutter has the key."""
    proto = PROTOS[proto]
    proxy, reals, gutter, dead, healthy = _gutter_with_refused(cluster, proto)
    for s in reals:
        proto.flush(s)
    with gutter.conn() as g:
        for k in healthy[:10]:
            if proto is Mc:
                assert g.set(k, b"from-gutter") == b"STORED\r\n"
            else:
                assert g.call("SET", k, "from-gutter") == b"OK"
    before = proxy.stats()["front"]["gutter_requests"]
    with proto.connect(proxy) as c:
        for k in healthy[:10]:
            assert proto.get(c, k) == ("ok", {}), k
        assert proto.mget(c, healthy[:10]) == ("ok", {})
    assert proxy.stats()["front"]["gutter_requests"] == before


def test_new_stats_fields(cluster):
    """The failover counters next to nutcracker's: per pool gutter_requests,
    tko_fail_fast, fail_open, server_tko; per server server_tko, probes,
    probe_failures; a backend-only pool has its own entry."""
    proxy, reals, gutter, dead, healthy = _gutter_with_refused(cluster, Mc)
    st = wait_stats(proxy, lambda s: s["front"][NAMES[FAULT]]["probe_failures"] >= 1,
                    "a failed probe")
    front = st["front"]
    assert NC_POOL_FIELDS <= set(front), front
    for f in ("gutter_requests", "tko_fail_fast", "fail_open", "server_tko"):
        assert type(front[f]) is int and front[f] >= 0, (f, front)
    assert front["server_tko"] == 1 and front["gutter_requests"] > 0, front
    for name, s in servers_of(front).items():
        assert NC_SERVER_FIELDS <= set(s), (name, s)
        for f in ("server_tko", "probes", "probe_failures"):
            assert type(s[f]) is int and s[f] >= 0, (name, f, s)
    assert front[NAMES[FAULT]]["server_tko"] == 2, front
    assert front[NAMES[FAULT]]["probes"] >= front[NAMES[FAULT]]["probe_failures"] >= 1
    assert "gutter" in st and "g1" in st["gutter"], sorted(st)


def test_probes_back_off(cluster):
    """Probes of a refused server start server_retry_timeout after the TKO
    and the delays grow: three failed probes take at least three first
    delays (a lower bound only: a slow machine probes less, never more)."""
    proxy, reals, gutter, dead, healthy = _gutter_with_refused(cluster, Mc)
    # _gutter_with_refused marked it; count from its start, which is earlier
    t0 = time.monotonic()
    first = proxy.stats()["front"][NAMES[FAULT]]["probe_failures"]
    wait_stats(proxy, lambda s: s["front"][NAMES[FAULT]]["probe_failures"] >= first + 3,
               "three more failed probes")
    assert time.monotonic() - t0 >= 2 * RETRY_MS / 1000.0


# --------------------------------------------------------------------------
# a late reply never answers the next request


MC_STORAGE = (b"set", b"add", b"replace", b"append", b"prepend", b"cas")


def _answering_script(proto):
    """Correct replies, except: keys "slow..." answered after 3 timeouts,
    keys "half..." half at once and the rest after 3 timeouts."""
    late = 3 * TIMEOUT_MS / 1000.0

    def value(key):
        return b"val-" + key

    def mc(args):
        cmd = args[0].lower()
        if cmd in (b"get", b"gets"):
            body = b"".join(b"VALUE %s 0 %d%s\r\n%s\r\n" % (
                k, len(value(k)), b" 1" if cmd == b"gets" else b"", value(k)) for k in args[1:])
            reply = body + b"END\r\n"
            key = args[1]
        elif cmd == b"version":
            return b"VERSION 1.6.18\r\n"
        elif cmd in MC_STORAGE:
            return b"STORED\r\n"
        else:
            return b"ERROR\r\n"
        return _shape(key, reply, late)

    def redis(args):
        cmd = args[0].upper()
        if cmd == b"GET":
            v = value(args[1])
            return _shape(args[1], b"$%d\r\n%s\r\n" % (len(v), v), late)
        if cmd == b"PING":
            return b"+PONG\r\n"
        if cmd in (b"SET", b"SELECT", b"AUTH", b"CLIENT"):
            return b"+OK\r\n"
        return b"-ERR unknown command\r\n"

    return mc if proto is Mc else redis


def _shape(key, reply, late):
    if key.startswith(b"slow"):
        return [(late, reply)]
    if key.startswith(b"half"):
        cut = reply.index(b"\r\n") + 4
        return [(0.0, reply[:cut]), (late, reply[cut:])]
    return reply


@pytest.mark.parametrize("proto", ["memcached", "redis"])
def test_late_reply_never_desynchronises(cluster, proto):
    """A reply that comes after its request timed out (whole, or its second
    half) must not be taken for the next request's: the timed-out
    connection is closed and a new one opened. No gutter, and a failure
    limit high enough that the server is never marked down."""
    proto = PROTOS[proto]
    fake = cluster.scripted(_answering_script(proto), proto.fake)
    proxy = cluster.proxy({"front": front_pool(proto, [fake], ["f1"], server_failure_limit=100)})
    waits = Waits()

    def value(k):
        return {k: b"val-" + k.encode()}

    with proto.connect(proxy) as c:
        assert waits(proto.get, c, "fast:0") == ("ok", value("fast:0"))
        for n, slow in enumerate(["slow:1", "half:1", "slow:2", "half:2"], 1):
            accepted = fake.accepted
            assert waits(proto.get, c, slow) == ("err", proto.timed_out), slow
            # at once, while the late reply is still to come
            assert waits(proto.get, c, "fast:%da" % n) == ("ok", value("fast:%da" % n))
            # and once it has come
            assert kt.wait_until(lambda: fake.pending() == 0, 5.0)
            assert waits(proto.get, c, "fast:%db" % n) == ("ok", value("fast:%db" % n))
            assert fake.accepted > accepted, "the timed-out connection was kept"
        # pipelined behind a slow one: each reply its own key's, or a timeout
        batch = ["fast:p1", "slow:p", "fast:p2", "half:p", "fast:p3"]
        if proto is Mc:
            c.send(b"".join(b"get %s\r\n" % k.encode() for k in batch))
            replies = [waits(_read_values, c) for _ in batch]
        else:
            c.send(b"".join(kt.resp_command("GET", k) for k in batch))
            replies = []
            for k in batch:
                r = waits(c.read_reply)
                replies.append(("err", r) if isinstance(r, kt.RespError) else
                               ("ok", {k: r} if r is not None else {}))
        for k, r in zip(batch, replies):
            if k.startswith("fast") and r[0] == "ok":
                assert r == ("ok", value(k)), (k, r)
            else:
                assert r == ("err", proto.timed_out), (k, r)
        assert replies[0] == ("ok", value("fast:p1"))
        assert kt.wait_until(lambda: fake.pending() == 0, 5.0)
        assert waits(proto.get, c, "fast:end") == ("ok", value("fast:end"))
    report("%s/late-reply" % proto.name, waits.max)
    waits.check()
    st = proxy.stats()["front"]
    assert st["f1"]["server_timedout"] >= 4, st
    assert st["f1"]["server_tko"] == 0, st


# --------------------------------------------------------------------------
# config checks


def _conf_run(proxy_bin, path):
    r = subprocess.run([proxy_bin, "-t", "-c", path], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=10)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


MC_POOL = "  servers:\n   - 127.0.0.1:{p1}:1 m1\n"
RD_POOL = "  redis: true\n  servers:\n   - 127.0.0.1:{p2}:1 r1\n"

GOOD_CONFS = {
    "gutter": ("front:\n  listen: 127.0.0.1:{l1}\n  gutter: spare\n  gutter_ttl: 5\n"
               "  max_tko_share: 0.25\n  server_retry_timeout_max: 2000\n" + MC_POOL +
               "spare:\n" + MC_POOL),
    "redis-gutter": ("front:\n  listen: 127.0.0.1:{l1}\n  gutter: spare\n" + RD_POOL +
                     "spare:\n" + RD_POOL),
    "route": ("front:\n  listen: 127.0.0.1:{l1}\n  gutter_ttl: 5\n"
              "  route: {{type: failover, children: [a, b]}}\n"
              "a:\n" + MC_POOL + "b:\n" + MC_POOL),
}

BAD_CONFS = {
    # name: (config, words of which the message must name one, (old, new): the
    # edit that makes it good, checked first so that a proxy rejecting the
    # keys themselves does not pass)
    "gutter-missing-pool": ("front:\n  listen: 127.0.0.1:{l1}\n  gutter: nosuch\n" + MC_POOL +
                            "spare:\n" + MC_POOL, ("gutter",), ("nosuch", "spare")),
    "gutter-redis-for-memcached": ("front:\n  listen: 127.0.0.1:{l1}\n  gutter: spare\n" +
                                   MC_POOL + "spare:\n" + RD_POOL, ("gutter",),
                                   ("  redis: true\n", "")),
    "gutter-memcached-for-redis": ("front:\n  listen: 127.0.0.1:{l1}\n  gutter: spare\n" +
                                   RD_POOL + "spare:\n" + MC_POOL, ("gutter",),
                                   ("  redis: true\n", "")),
    "route-missing-child": ("front:\n  listen: 127.0.0.1:{l1}\n"
                            "  route: {{type: failover, children: [a, nosuch]}}\n"
                            "a:\n" + MC_POOL + "b:\n" + MC_POOL, ("route", "children"),
                            ("nosuch", "b")),
    "max-tko-share-above-1": ("front:\n  listen: 127.0.0.1:{l1}\n  max_tko_share: 1.5\n" +
                              MC_POOL, ("max_tko_share",), ("1.5", "0.5")),
}


def _conf(tmp_path, text):
    path = tmp_path / "failover.yml"
    path.write_text(text.format(l1=kt.free_port(), p1=kt.free_port(), p2=kt.free_port()))
    return str(path)


@pytest.mark.parametrize("name", sorted(GOOD_CONFS))
def test_config_accepted(proxy_bin, tmp_path, name):
    rc, out = _conf_run(proxy_bin, _conf(tmp_path, GOOD_CONFS[name]))
    assert rc == 0, out


@pytest.mark.parametrize("name", sorted(BAD_CONFS))
def test_config_rejected_naming_the_key(proxy_bin, tmp_path, name):
    text, words, (old, new) = BAD_CONFS[name]
    rc, out = _conf_run(proxy_bin, _conf(tmp_path, text.replace(old, new)))
    assert rc == 0, "the corrected config of %s is refused too:\n%s" % (name, out)
    rc, out = _conf_run(proxy_bin, _conf(tmp_path, text))
    assert rc != 0, "accepted %s:\n%s" % (name, out)
    assert any(w in out for w in words), "message names none of %r:\n%s" % (words, out)

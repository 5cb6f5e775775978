"""ketch-admin against a real ZooKeeper: the commands write the layout the
proxy reads (DESIGN.md section 8), and the nanny probes real memcached and
Redis servers (stopped with SIGSTOP to fail), ejects and re-admits them,
holds to its cap, and lets only the elected nanny act.

Each test works under its own root in the session's ZooKeeper; the nanny
runs with short intervals, and every wait polls for a state under a deadline.
"""

import json
import os
import re
import signal
import subprocess
import sys

import pytest

import ketchtest as kt

ADMIN = os.path.join(os.environ.get("KETCH_SRCDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", ".."), "zk", "ketch-admin")
# generous: each only stops a broken nanny from hanging the test
ADMIN_TIMEOUT_S = 30
WAIT_S = 20
# fast rounds so that a file of nanny tests runs in seconds
NANNY_ARGS = ["--interval", "0.1", "--timeout", "0.3", "--session-timeout", "2"]


def admin(zookeeper, root, *args):
    """Run ketch-admin with the test's python (it has kazoo: the tests use
    it too). <zookeeper>: a ZooKeeper, or a hosts string."""
    hosts = getattr(zookeeper, "hosts", zookeeper)
    argv = [sys.executable, ADMIN, "--zk", hosts, "--root", root] + list(args)
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=ADMIN_TIMEOUT_S)


def ok(zookeeper, root, *args):
    r = admin(zookeeper, root, *args)
    assert r.returncode == 0, "ketch-admin %s: exit %d\n%s" % (" ".join(args), r.returncode,
                                                                r.stderr)
    return r.stdout


def fails(zookeeper, root, message, *args):
    """ketch-admin refuses: exit 1, <message> (a regex) on stderr, no traceback."""
    r = admin(zookeeper, root, *args)
    where = "ketch-admin %s:\nstdout: %s\nstderr: %s" % (" ".join(args), r.stdout, r.stderr)
    assert r.returncode == 1, where
    assert re.search(message, r.stderr), where
    assert "Traceback" not in r.stderr + r.stdout, where


def server_json(zk_client, root, pool, name):
    data, _ = zk_client.get("%s/pools/%s/servers/%s" % (root, pool, name))
    return json.loads(data)


def tree(zk_client, path):
    """{path: (data, mzxid, pzxid)} of every znode under <path>: equal
    snapshots mean nothing was written."""
    data, stat = zk_client.get(path)
    out = {path: (data, stat.mzxid, stat.pzxid)}
    for child in zk_client.get_children(path):
        out.update(tree(zk_client, path + "/" + child))
    return out


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture
def servers(tmp_path):
    """Memcached and Redis servers of this test alone."""
    if kt.memcached_bin() is None:
        pytest.skip("memcached not found (Debian: apt-get install memcached)")
    c = kt.Cluster(tmp_path)
    yield c
    c.close()


class Freezer:
    """SIGSTOP a server to make it fail its probes (it still accepts TCP
    connections, in the kernel, and answers nothing); SIGCONT to bring it
    back. thaw_all() at teardown, whatever the test did."""

    def __init__(self):
        self.frozen = set()

    def freeze(self, server):
        os.kill(server.proc.pid, signal.SIGSTOP)
        self.frozen.add(server.proc.pid)

    def thaw(self, server):
        os.kill(server.proc.pid, signal.SIGCONT)
        self.frozen.discard(server.proc.pid)

    def thaw_all(self):
        for pid in self.frozen:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.frozen.clear()


@pytest.fixture
def freezer(servers):
    f = Freezer()
    yield f
    f.thaw_all()


class Nanny:
    """ketch-admin nanny as a process, its log in a file."""

    def __init__(self, tmp_path, zookeeper, root, name, args):
        self.name = name
        self.logpath = str(tmp_path / ("%s.log" % name))
        argv = [sys.executable, ADMIN, "--zk", zookeeper.hosts, "--root", root,
                "nanny", "--id", name, "-v"] + NANNY_ARGS + list(args)
        self.proc = kt.spawn(argv, self.logpath)

    def log(self):
        with open(self.logpath, encoding="utf-8", errors="replace") as f:
            return f.read()

    def count(self, pattern):
        return len(re.findall(pattern, self.log()))

    def wait_log(self, pattern, n=1):
        """Wait until <pattern> (a regex) appears <n> times in the log."""
        if not kt.wait_until(lambda: self.count(pattern) >= n or self.proc.poll() is not None,
                             timeout=WAIT_S) or self.count(pattern) < n:
            pytest.fail("nanny %s: %r not logged %d times within %d s:\n%s" % (
                self.name, pattern, n, WAIT_S, kt.tail(self.logpath)))

    def wait_rounds(self, n):
        """Wait until <n> more rounds are done: what did not happen by then
        is not going to."""
        self.wait_log("round done", self.count("round done") + n)

    def terminate(self):
        """SIGTERM; the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(kt.STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail("nanny %s ignored SIGTERM:\n%s" % (self.name, kt.tail(self.logpath)))

    def stop(self):
        kt._stop_popen(self.proc)


@pytest.fixture
def nannies(tmp_path, zookeeper, zk_root):
    """start(name, *args) starts a nanny on the test's root; all are
    stopped at teardown."""
    started = []

    def start(name, *args):
        n = Nanny(tmp_path, zookeeper, zk_root, name, args)
        started.append(n)
        return n
    yield start
    for n in started:
        n.stop()


def wait_state(zk_client, root, pool, name, state, nanny=None):
    def current():
        return server_json(zk_client, root, pool, name).get("state")
    if not kt.wait_until(lambda: current() == state, timeout=WAIT_S):
        pytest.fail("pool %s: server %s is %r, not %r after %d s%s" % (
            pool, name, current(), state, WAIT_S,
            ":\n" + kt.tail(nanny.logpath) if nanny else ""))


def add_servers(zookeeper, root, pool, named_servers, *extra):
    for name, server in named_servers:
        ok(zookeeper, root, "server", "add", pool, name, server.addr, *extra)


# --------------------------------------------------------------------------
# pools, servers, expansions, proxies


def test_pool_create_list_show(zookeeper, zk_root, zk_client):
    ok(zookeeper, zk_root, "pool", "create", "web")
    ok(zookeeper, zk_root, "pool", "create", "sessions", "--redis")
    assert zk_client.get(zk_root + "/pools/web")[0] == b'{"protocol":"memcache"}'
    assert zk_client.get(zk_root + "/pools/sessions")[0] == b'{"protocol":"redis"}'
    assert zk_client.get_children(zk_root + "/pools/web/servers") == []
    fails(zookeeper, zk_root, "pool web already exists", "pool", "create", "web", "--redis")

    listing = ok(zookeeper, zk_root, "pool", "list")
    assert re.search(r"^sessions\s+redis\s+0 servers$", listing, re.M), listing
    assert re.search(r"^web\s+memcache\s+0 servers$", listing, re.M), listing

    ok(zookeeper, zk_root, "server", "add", "web", "mc1", "127.0.0.1:11211", "--zone", "a")
    ok(zookeeper, zk_root, "server", "add", "web", "mc2", "127.0.0.1:11212", "--weight", "2",
       "--state", "draining")
    shown = ok(zookeeper, zk_root, "pool", "show", "web")
    assert re.search(r"mc1\s+127\.0\.0\.1:11211\s+1\s+a\s+up", shown), shown
    assert re.search(r"mc2\s+127\.0\.0\.1:11212\s+2\s+-\s+draining", shown), shown
    assert "no expansion in progress" in shown, shown
    assert json.loads(ok(zookeeper, zk_root, "pool", "show", "web", "--json")) == {
        "pool": "web", "protocol": "memcache", "expansion": False, "previous": None,
        "servers": [
            {"name": "mc1", "addr": "127.0.0.1:11211", "weight": 1, "zone": "a", "state": "up"},
            {"name": "mc2", "addr": "127.0.0.1:11212", "weight": 2, "zone": None,
             "state": "draining"}]}


def test_server_commands_write_the_layout(zookeeper, zk_root, zk_client):
    # the pool is created on the way
    ok(zookeeper, zk_root, "server", "add", "web", "mc1", "127.0.0.1:11211", "--zone", "a")
    ok(zookeeper, zk_root, "server", "add", "web", "mc2", "127.0.0.1:11212", "--weight", "3")
    servers = zk_root + "/pools/web/servers/"
    assert zk_client.get(servers + "mc1")[0] == \
        b'{"addr":"127.0.0.1:11211","weight":1,"zone":"a","state":"up"}'
    assert zk_client.get(servers + "mc2")[0] == \
        b'{"addr":"127.0.0.1:11212","weight":3,"state":"up"}'

    ok(zookeeper, zk_root, "server", "drain", "web", "mc1")
    assert zk_client.get(servers + "mc1")[0] == \
        b'{"addr":"127.0.0.1:11211","weight":1,"zone":"a","state":"draining"}'
    ok(zookeeper, zk_root, "server", "up", "web", "mc1")
    assert server_json(zk_client, zk_root, "web", "mc1")["state"] == "up"

    fails(zookeeper, zk_root, "server mc2 already exists in pool web",
          "server", "add", "web", "mc2", "127.0.0.1:11299")
    assert server_json(zk_client, zk_root, "web", "mc2")["addr"] == "127.0.0.1:11212"
    ok(zookeeper, zk_root, "server", "add", "web", "mc2", "127.0.0.1:11299", "--force")
    assert server_json(zk_client, zk_root, "web", "mc2")["addr"] == "127.0.0.1:11299"

    ok(zookeeper, zk_root, "server", "remove", "web", "mc2")
    assert zk_client.get_children(zk_root + "/pools/web/servers") == ["mc1"]


def test_user_errors_exit_1_with_a_message(zookeeper, zk_root):
    ok(zookeeper, zk_root, "server", "add", "web", "mc1", "127.0.0.1:11211")
    for message, args in [
            ("no such pool: nosuch", ["pool", "show", "nosuch"]),
            ("no such pool: nosuch", ["server", "drain", "nosuch", "mc1"]),
            ("no server mc9 in pool web", ["server", "remove", "web", "mc9"]),
            ("no server mc9 in pool web", ["server", "up", "web", "mc9"]),
            ("already exists", ["server", "add", "web", "mc1", "127.0.0.1:11211"]),
            ("bad address 'localhost'", ["server", "add", "web", "mc2", "localhost"]),
            ("bad address", ["server", "add", "web", "mc2", "127.0.0.1:99999"]),
            ("bad weight", ["server", "add", "web", "mc2", "127.0.0.1:1", "--weight", "0"]),
            ("bad server name", ["server", "add", "web", "a/b", "127.0.0.1:1"]),
            ("no expansion in progress", ["expansion", "end", "web"])]:
        fails(zookeeper, zk_root, message, *args)


def test_unreachable_zookeeper_exits_1(zk_root):
    port = kt.free_port()
    fails("127.0.0.1:%d" % port, zk_root, r"ZooKeeper at 127\.0\.0\.1:%d did not answer "
          r"within 1 s" % port, "--timeout", "1", "pool", "list")


def test_expansion_records_the_servers_that_are_up(zookeeper, zk_root, zk_client):
    ok(zookeeper, zk_root, "pool", "create", "web")
    ok(zookeeper, zk_root, "server", "add", "web", "mc1", "127.0.0.1:11211", "--zone", "a")
    ok(zookeeper, zk_root, "server", "add", "web", "mc2", "127.0.0.1:11212", "--weight", "2")
    ok(zookeeper, zk_root, "server", "add", "web", "mc3", "127.0.0.1:11213", "--state",
       "draining")
    ok(zookeeper, zk_root, "expansion", "begin", "web")
    previous = zk_root + "/pools/web/previous"
    expected = (b'{"servers":[{"name":"mc1","addr":"127.0.0.1:11211","weight":1},'
                b'{"name":"mc2","addr":"127.0.0.1:11212","weight":2}]}')
    assert zk_client.get(previous)[0] == expected
    assert "expansion in progress" in ok(zookeeper, zk_root, "pool", "show", "web")
    assert "mc2" in ok(zookeeper, zk_root, "expansion", "show", "web")

    # the ring being left must not move while the new one settles
    ok(zookeeper, zk_root, "server", "add", "web", "mc4", "127.0.0.1:11214")
    fails(zookeeper, zk_root, "expansion is already in progress", "expansion", "begin", "web")
    assert zk_client.get(previous)[0] == expected

    ok(zookeeper, zk_root, "expansion", "end", "web")
    assert zk_client.exists(previous) is None
    assert "no expansion in progress" in ok(zookeeper, zk_root, "pool", "show", "web")
    fails(zookeeper, zk_root, "no expansion in progress", "expansion", "end", "web")


def test_proxies_lists_live_proxies_and_generations(zookeeper, zk_root, zk_client):
    assert ok(zookeeper, zk_root, "proxies") == ""
    proxy = zookeeper.client()  # stands for a running ketch
    try:
        proxy.ensure_path(zk_root + "/proxies")
        proxy.create(zk_root + "/proxies/127.0.0.1:22121", b"7", ephemeral=True)
        assert re.search(r"^127\.0\.0\.1:22121\s+generation 7$",
                         ok(zookeeper, zk_root, "proxies"), re.M)
        assert json.loads(ok(zookeeper, zk_root, "proxies", "--json")) == [
            {"proxy": "127.0.0.1:22121", "generation": 7}]
        # a proxy whose session ends (crash, partition) leaves the list
        assert zookeeper.expire(proxy), "the stand-in proxy's session did not expire"
        assert ok(zookeeper, zk_root, "proxies") == ""
    finally:
        proxy.stop()
        proxy.close()


# --------------------------------------------------------------------------
# the nanny


def test_nanny_ejects_and_readmits_memcached(servers, freezer, nannies, zookeeper, zk_root,
                                            zk_client):
    mc1, mc2, mc3, mc4 = servers.memcached(4)
    ok(zookeeper, zk_root, "pool", "create", "web")
    add_servers(zookeeper, zk_root, "web", [("mc1", mc1), ("mc2", mc2)])
    ok(zookeeper, zk_root, "server", "add", "web", "mc3", mc3.addr, "--state", "draining")
    freezer.freeze(mc3)  # an operator's drained server is never the nanny's business

    nanny = nannies("n1", "--fail", "3", "--recover", "2", "--max-eject-share", "0.5")
    nanny.wait_rounds(2)
    freezer.freeze(mc2)
    wait_state(zk_client, zk_root, "web", "mc2", "ejected", nanny)
    nanny.wait_log(r"nanny: pool web: server mc2 \(%s\) ejected after 3 failures \(timed out\)"
                   % re.escape(mc2.addr))
    freezer.thaw(mc2)
    wait_state(zk_client, zk_root, "web", "mc2", "up", nanny)
    nanny.wait_log(r"server mc2 \(%s\) up again after 2 successes" % re.escape(mc2.addr))

    # a server added while it runs is probed from the next round on
    ok(zookeeper, zk_root, "server", "add", "web", "mc4", mc4.addr, "--zone", "b")
    freezer.freeze(mc4)
    wait_state(zk_client, zk_root, "web", "mc4", "ejected", nanny)
    # the nanny changed the state and nothing else
    assert server_json(zk_client, zk_root, "web", "mc4") == {
        "addr": mc4.addr, "weight": 1, "zone": "b", "state": "ejected"}
    # an operator drains the ejected server: back or not, it stays out
    ok(zookeeper, zk_root, "server", "drain", "web", "mc4")
    freezer.thaw(mc4)
    freezer.thaw(mc3)
    nanny.wait_rounds(5)
    assert server_json(zk_client, zk_root, "web", "mc4")["state"] == "draining"
    assert server_json(zk_client, zk_root, "web", "mc3")["state"] == "draining"
    assert server_json(zk_client, zk_root, "web", "mc1")["state"] == "up"
    assert nanny.count("ejected after") == 2, nanny.log()


def test_nanny_pings_redis(servers, freezer, nannies, zookeeper, zk_root, zk_client):
    if kt.redis_bin() is None:
        pytest.skip("redis-server not found (Debian: apt-get install redis-server)")
    ra1, ra2, rb1, rb2 = servers.redis(4, requirepass="s3cret")
    # "sessions" says it is Redis in its znode; "queues" does not: --redis says so
    ok(zookeeper, zk_root, "pool", "create", "sessions", "--redis")
    add_servers(zookeeper, zk_root, "sessions", [("ra1", ra1), ("ra2", ra2)])
    add_servers(zookeeper, zk_root, "queues", [("rb1", rb1), ("rb2", rb2)])

    nanny = nannies("n1", "--redis", "queues", "--redis-auth", "s3cret",
                    "--max-eject-share", "1")
    nanny.wait_rounds(2)
    freezer.freeze(ra2)
    freezer.freeze(rb2)
    wait_state(zk_client, zk_root, "sessions", "ra2", "ejected", nanny)
    wait_state(zk_client, zk_root, "queues", "rb2", "ejected", nanny)
    # the healthy ones failed nothing in the same rounds: AUTH and PING answered
    assert server_json(zk_client, zk_root, "sessions", "ra1")["state"] == "up"
    assert server_json(zk_client, zk_root, "queues", "rb1")["state"] == "up"
    freezer.thaw(ra2)
    freezer.thaw(rb2)
    wait_state(zk_client, zk_root, "sessions", "ra2", "up", nanny)
    wait_state(zk_client, zk_root, "queues", "rb2", "up", nanny)


def test_nanny_never_ejects_past_its_share(servers, freezer, nannies, zookeeper, zk_root,
                                           zk_client):
    mcs = servers.memcached(4)
    names = ["mc1", "mc2", "mc3", "mc4"]
    add_servers(zookeeper, zk_root, "web", list(zip(names, mcs)))
    nanny = nannies("n1", "--max-eject-share", "0.5")
    nanny.wait_rounds(2)
    for m in mcs[1:]:
        freezer.freeze(m)

    refusal = (r"nanny: pool web: server mc4 \(%s\) not ejected after 3 failures \(timed out\): "
               r"2 of 4 servers of the pool are ejected already and --max-eject-share 0.5 "
               r"allows 2" % re.escape(mcs[3].addr))
    nanny.wait_log(refusal)
    nanny.wait_rounds(5)

    def states():
        return [server_json(zk_client, zk_root, "web", n)["state"] for n in names]
    assert states() == ["up", "ejected", "ejected", "up"], nanny.log()
    assert nanny.count("not ejected after") == 1, nanny.log()

    # one back frees room under the cap: the refused one goes
    freezer.thaw(mcs[1])
    wait_state(zk_client, zk_root, "web", "mc4", "ejected", nanny)
    assert states() == ["up", "up", "ejected", "ejected"], nanny.log()


def test_nanny_dry_run_writes_nothing(servers, freezer, nannies, zookeeper, zk_root,
                                      zk_client):
    mc1, mc2 = servers.memcached(2)
    add_servers(zookeeper, zk_root, "web", [("mc1", mc1), ("mc2", mc2)])
    before = tree(zk_client, zk_root)
    freezer.freeze(mc2)
    nanny = nannies("dry", "--dry-run", "--fail", "2", "--max-eject-share", "0.5")
    nanny.wait_log(r"nanny: dry run: pool web: server mc2 \(%s\) would be ejected after 2 "
                   r"failures \(timed out\)" % re.escape(mc2.addr))
    nanny.wait_rounds(3)
    freezer.thaw(mc2)
    nanny.wait_log(r"dry run: pool web: server mc2 \(%s\) would be up after 2 successes"
                   % re.escape(mc2.addr))
    assert nanny.terminate() == 0, nanny.log()
    assert nanny.count("would be ejected") == 1, nanny.log()
    # no state, no election node, not even its parent
    assert tree(zk_client, zk_root) == before


def test_nanny_election_one_acts_and_a_standby_takes_over(servers, freezer, nannies,
                                                          zookeeper, zk_root, zk_client):
    mc1, mc2 = servers.memcached(2)
    add_servers(zookeeper, zk_root, "web", [("mc1", mc1), ("mc2", mc2)])
    first = nannies("nanny-a")
    first.wait_log("nanny-a leads")
    second = nannies("nanny-b")
    second.wait_log("standby: nanny-a leads")

    freezer.freeze(mc2)
    wait_state(zk_client, zk_root, "web", "mc2", "ejected", first)
    first.wait_log("server mc2 .* ejected after")
    assert second.count("ejected after|probe failed|round done") == 0, second.log()

    # a leader that dies without a word: its session ends, the standby leads
    first.proc.kill()
    first.proc.wait()
    second.wait_log("nanny-b leads")
    freezer.thaw(mc2)
    wait_state(zk_client, zk_root, "web", "mc2", "up", second)
    second.wait_log("server mc2 .* up again after")

    # SIGTERM: a clean exit that hands leadership over at once
    assert second.terminate() == 0, second.log()
    second.wait_log("stopped; leadership released")
    assert zk_client.get_children(zk_root + "/nanny/election") == []


def test_nanny_rides_out_a_zookeeper_restart(servers, freezer, tmp_path, zk_root):
    zk = servers.zookeeper()  # its own: this one is stopped
    client = zk.client()
    try:
        mc1, mc2 = servers.memcached(2)
        add_servers(zk, zk_root, "web", [("mc1", mc1), ("mc2", mc2)])
        nanny = Nanny(tmp_path, zk, zk_root, "n1", ["--session-timeout", "10"])
        servers.adopt(nanny)
        nanny.wait_log("n1 leads")
        zk.stop()
        nanny.wait_log("ZooKeeper connection lost")
        zk.start_on(zk.port)
        nanny.wait_log("ZooKeeper connection up")
        freezer.freeze(mc2)
        wait_state(client, zk_root, "web", "mc2", "ejected", nanny)
    finally:
        client.stop()
        client.close()

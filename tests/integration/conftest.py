"""pytest fixtures for ketch's integration tests.

Real memcached, Redis and ZooKeeper servers on loopback ports chosen at run
time, the proxy under test in front of them (ketch, or nutcracker to check the tests
themselves), and teardown that stops every process even when a test fails.

  KETCH_BIN=/usr/sbin/nutcracker KETCH_TEST_AGAINST_NUTCRACKER=1 \\
      /usr/bin/python3 -m pytest -p no:cacheprovider -q tests/integration

Tests marked ketch_only need a feature nutcracker lacks; they are skipped
when KETCH_TEST_AGAINST_NUTCRACKER=1. Every test runs under a deadline
(KETCH_TEST_TIMEOUT seconds, default 120) enforced with SIGALRM, so a hung
proxy fails the test instead of hanging the suite.
"""

import hashlib
import itertools
import os
import signal
import uuid

import pytest

import ketchtest as kt

TEST_TIMEOUT_S = int(os.environ.get("KETCH_TEST_TIMEOUT", "120"))


def _on_sigterm(signum, frame):
    # run.sh's deadline: unwind like Ctrl-C so fixtures stop their servers
    raise KeyboardInterrupt("SIGTERM")


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _on_sigterm)
    config.addinivalue_line(
        "markers", "ketch_only(reason=...): needs a ketch feature or fix that nutcracker "
        "lacks (skipped when KETCH_TEST_AGAINST_NUTCRACKER=1)")


def pytest_report_header(config):
    return "proxy under test: %s%s; memcached: %s; nutcracker: %s" % (
        kt.proxy_bin(), " (as nutcracker)" if kt.against_nutcracker() else "",
        kt.memcached_bin(), kt.nutcracker_bin())


def pytest_collection_modifyitems(config, items):
    if not kt.against_nutcracker():
        return
    for item in items:
        mark = item.get_closest_marker("ketch_only")
        if mark:
            why = mark.kwargs.get("reason") or (mark.args[0] if mark.args else "")
            item.add_marker(pytest.mark.skip(
                reason="ketch only, running against nutcracker" + (": " + why if why else "")))


# --------------------------------------------------------------------------
# a deadline per test phase, without plugins


class DeadlineExceeded(Exception):
    pass


def _on_alarm(signum, frame):
    raise DeadlineExceeded("test phase exceeded %d s (KETCH_TEST_TIMEOUT)" % TEST_TIMEOUT_S)


def _deadline_wrapper():
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(TEST_TIMEOUT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    yield from _deadline_wrapper()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield from _deadline_wrapper()


# Teardown is not interrupted: it is what stops the processes. Each stop is
# bounded (terminate, then kill after kt.STOP_TIMEOUT_S).


# --------------------------------------------------------------------------
# binaries


def _require_memcached():
    if kt.memcached_bin() is None:
        pytest.skip("memcached not found on PATH (Debian: apt-get install memcached); "
                    "the integration tests need real servers")


def _require_redis():
    if kt.redis_bin() is None:
        pytest.skip("redis-server not found on PATH (Debian: apt-get install redis-server); "
                    "the Redis integration tests need real servers")


@pytest.fixture(scope="session")
def proxy_bin():
    path = kt.proxy_bin()
    if not path:
        pytest.skip("no proxy binary: set KETCH_BIN (or KETCH_BUILDDIR)")
    if not os.access(path, os.X_OK):
        pytest.skip("proxy binary %s is not executable (not built?)" % path)
    return path


@pytest.fixture(scope="session")
def nutcracker_bin():
    path = kt.nutcracker_bin()
    if path is None:
        pytest.skip("nutcracker not found (Debian: apt-get install nutcracker); "
                    "drop-in tests compare ketch with it")
    return path


# --------------------------------------------------------------------------
# clusters: everything a test starts, stopped at teardown


@pytest.fixture
def cluster(tmp_path, proxy_bin):
    _require_memcached()
    c = kt.Cluster(tmp_path)
    yield c
    c.close()


@pytest.fixture(scope="module")
def module_cluster(request, tmp_path_factory, proxy_bin):
    _require_memcached()
    c = kt.Cluster(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))
    yield c
    c.close()


@pytest.fixture(scope="module")
def mc4(module_cluster):
    """Four real memcached servers (-I 2m so that a 1 MiB value fits)."""
    return module_cluster.memcached(4)


def pool4_config(servers):
    """One pool "alpha" over <servers>, named mc1..mcN, ketama over fnv1a_64
    (nutcracker's defaults spelled out)."""
    return {"alpha": {
        "hash": "fnv1a_64",
        "distribution": "ketama",
        "timeout": 3000,
        "servers": [kt.server_line(m, 1, "mc%d" % (i + 1)) for i, m in enumerate(servers)],
    }}


@pytest.fixture(scope="module")
def pool4(module_cluster, mc4):
    """The proxy in front of mc4, shared by a module's tests."""
    return module_cluster.proxy(pool4_config(mc4))


@pytest.fixture
def own_pool4(tmp_path, mc4):
    """A proxy in front of mc4 for this test alone: a test that may break the
    proxy does not take the next tests down with it."""
    p = kt.Proxy(tmp_path, pool4_config(mc4), name="own")
    try:
        yield p.start()
    finally:
        p.stop()


@pytest.fixture
def client(pool4):
    with pool4.conn() as c:
        yield c


# --------------------------------------------------------------------------
# Redis


@pytest.fixture(scope="module")
def module_redis_cluster(request, tmp_path_factory, proxy_bin):
    _require_redis()
    c = kt.Cluster(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]))
    yield c
    c.close()


@pytest.fixture(scope="module")
def redis4(module_redis_cluster):
    """Four real redis-servers."""
    return module_redis_cluster.redis(4)


@pytest.fixture(scope="module")
def rpool4(module_redis_cluster, redis4):
    """The proxy in front of redis4, shared by a module's tests."""
    return module_redis_cluster.proxy(kt.redis_pool_config(redis4))


@pytest.fixture
def own_rpool4(tmp_path, redis4):
    """A proxy in front of redis4 for this test alone."""
    p = kt.Proxy(tmp_path, kt.redis_pool_config(redis4), name="own")
    try:
        yield p.start()
    finally:
        p.stop()


@pytest.fixture
def rclient(rpool4):
    """A RespConn to rpool4."""
    with rpool4.resp() as c:
        yield c


_tags = itertools.count()


@pytest.fixture
def tag(request):
    """A key prefix unique to this test, so tests sharing servers never see
    each other's keys."""
    h = hashlib.md5(request.node.nodeid.encode()).hexdigest()[:8]
    return "t%d-%s" % (next(_tags), h)


# --------------------------------------------------------------------------
# ZooKeeper: no skip when it is missing (CI installs it; a skip would hide
# that the membership tests never ran)


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory):
    """One real ZooKeeper for the whole session: a JVM starts slowly. Tests
    share it through zk_root; a test that stops or restarts ZooKeeper starts
    its own with Cluster.zookeeper()."""
    c = kt.Cluster(tmp_path_factory.mktemp("zookeeper"))
    try:
        yield c.zookeeper()
    finally:
        c.close()


@pytest.fixture
def zk_client(zookeeper):
    """A kazoo client of the shared ZooKeeper."""
    c = zookeeper.client()
    try:
        yield c
    finally:
        c.stop()
        c.close()


@pytest.fixture
def zk_root(zk_client):
    """A root path of this test's own in the shared ZooKeeper, removed after."""
    root = "/ketch-test-%s" % uuid.uuid4().hex[:12]
    yield root
    zk_client.delete(root, recursive=True)

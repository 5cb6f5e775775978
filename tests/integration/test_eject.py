"""auto_eject_hosts: a dead server leaves the ketama continuum and its keys
re-hash onto the live servers exactly as under nutcracker (only live servers
are placed on the ring), while the other servers' keys stay where they were.
Without auto_eject_hosts the dead server's keys fail fast with SERVER_ERROR:
the refused connection marks it TKO (test_failover.py has the rest).

Ejection is decided per worker thread in ketch; these tests run one worker
so that the sequence of failures is the same as in nutcracker's one loop."""

import pytest

import ketchtest as kt

KEYS = kt.make_keys(600, "eject")


def _pool(live, dead_port, eject):
    servers = [kt.server_line(m, 1, "live%d" % i) for i, m in enumerate(live)]
    servers.insert(1, "127.0.0.1:%d:1 dead" % dead_port)
    return {
        "hash": "fnv1a_64",
        "distribution": "ketama",
        "timeout": 1000,
        "auto_eject_hosts": eject,
        "server_failure_limit": 1,
        "server_retry_timeout": 600000,
        "servers": servers,
    }


def _set_all(proxy, keys):
    """Set every key one at a time (reconnecting if the proxy closes on an
    error, as nutcracker does); return {key: reply line}."""
    replies = {}
    c = proxy.conn()
    try:
        for k in keys:
            try:
                replies[k] = c.set(k, b"v")
            except (EOFError, ConnectionError):
                c.close()
                c = proxy.conn()
                replies[k] = None
    finally:
        c.close()
    return replies


def _placement(live, keys):
    where = {}
    for i, m in enumerate(live):
        for k in m.present(keys):
            where[k.decode()] = i
    return where


def _run(workdir, binary, name, live, dead_port, eject):
    for m in live:
        m.flush_all()
    proxy = kt.Proxy(workdir, {"ej": _pool(live, dead_port, eject)}, binary=binary, name=name,
                     threads=1)
    try:
        proxy.start()
        first = _set_all(proxy, KEYS)
        failed = [k for k, r in first.items() if r != b"STORED\r\n"]
        second = _set_all(proxy, failed)
        stats = proxy.stats()
    finally:
        proxy.stop()
    return first, second, _placement(live, KEYS), stats


@pytest.fixture(scope="module")
def live(module_cluster):
    return module_cluster.memcached(3, prefix="ej")


def test_ejected_server_keys_rehash_like_nutcracker(tmp_path, live, proxy_bin, nutcracker_bin):
    dead_port = kt.free_port()  # nothing listens there: connections are refused
    n_first, n_second, theirs, _ = _run(tmp_path, nutcracker_bin, "nutcracker", live, dead_port,
                                         True)
    k_first, k_second, ours, stats = _run(tmp_path, proxy_bin, "ketch", live, dead_port, True)

    # the first failure ejects the dead server, so few keys fail, then none
    failed = [k for k, r in k_first.items() if r != b"STORED\r\n"]
    assert 1 <= len(failed) <= 3, failed
    assert all(k_first[k].startswith(b"SERVER_ERROR") for k in failed), k_first
    assert all(r == b"STORED\r\n" for r in k_second.values()), k_second
    assert len(ours) == len(KEYS)
    assert stats["ej"]["server_ejects"] == 1, stats["ej"]
    assert stats["ej"]["dead"]["server_ejected_at"] > 0, stats["ej"]["dead"]

    assert len(theirs) == len(KEYS), "nutcracker lost keys: %d" % (len(KEYS) - len(theirs))
    moved = [k for k in KEYS if theirs[k] != ours[k]]
    assert not moved, "%d keys placed differently than nutcracker after ejection, e.g. %r" % (
        len(moved), [(k, theirs[k], ours[k]) for k in moved[:5]])


@pytest.mark.ketch_only(reason="nutcracker counts one server_err per connection, not per request")
def test_without_eject_dead_server_keys_fail_fast(tmp_path, live, proxy_bin):
    dead_port = kt.free_port()
    first, second, where, stats = _run(tmp_path, proxy_bin, "ketch", live, dead_port, False)
    failed = [k for k, r in first.items() if r != b"STORED\r\n"]
    # the dead server owns roughly a quarter of the ring, and keeps it
    assert len(KEYS) // 10 < len(failed) < len(KEYS) // 2, len(failed)
    assert all(first[k].startswith(b"SERVER_ERROR") for k in failed), first
    assert sorted(failed) == sorted(k for k, r in second.items() if r != b"STORED\r\n")
    assert set(where) == set(KEYS) - set(failed)
    # the first refusal marks it TKO (hard): from then on its keys fail without a connect
    assert stats["ej"]["server_ejects"] == 0
    assert stats["ej"]["server_tkos"] == 1
    assert stats["ej"]["dead"]["server_tko"] == 2
    assert stats["ej"]["dead"]["server_err"] >= 1
    assert stats["ej"]["dead"]["server_err"] + stats["ej"]["tko_fail_fast"] >= len(failed)

"""Drop-in: the same nutcracker config in front of the same memcached servers,
run under nutcracker and under ketch, must put every key on the same server.
Where a key lives is read from the servers themselves, not from either proxy."""

import random
import string

import pytest

import ketchtest as kt

WEIGHTS = [1, 2, 3, 1]
HASHES = ["md5", "crc16", "crc32", "crc32a", "fnv1_32", "fnv1a_32", "fnv1_64", "fnv1a_64",
          "hsieh", "murmur", "jenkins", "one_at_a_time"]


def _keys():
    rnd = random.Random(2013)
    keys = kt.make_keys(1000, "dropin")
    keys += ["user:%d" % i for i in range(500)]
    keys += ["%d" % i for i in range(100)]
    alphabet = string.ascii_letters + string.digits + string.punctuation
    keys += ["".join(rnd.choice(alphabet) for _ in range(rnd.choice([1, 2, 5, 40, 249, 250])))
             for _ in range(250)]
    keys += ["{tag%d}:field%d" % (i % 37, i) for i in range(200)]
    keys += ["a{b}c%d" % i for i in range(50)]
    keys = list(dict.fromkeys(keys))  # unique, order kept
    assert len(keys) >= 2000
    return keys


KEYS = _keys()


def _servers(mcs, named=True, weights=None):
    weights = weights or [1] * len(mcs)
    return [kt.server_line(m, w, "node%d" % (i + 1) if named else None)
            for i, (m, w) in enumerate(zip(mcs, weights))]


CASES = [
    # (id, pool keys except servers, named, weighted)
    ("ketama-fnv1a_64-named", {"hash": "fnv1a_64", "distribution": "ketama"}, True, False),
    ("ketama-fnv1a_64-unnamed", {"hash": "fnv1a_64", "distribution": "ketama"}, False, False),
    ("ketama-fnv1a_64-weighted", {"hash": "fnv1a_64", "distribution": "ketama"}, True, True),
    ("ketama-fnv1a_64-weighted-unnamed", {"hash": "fnv1a_64", "distribution": "ketama"},
     False, True),
    ("ketama-md5-named", {"hash": "md5", "distribution": "ketama"}, True, False),
    ("ketama-md5-unnamed", {"hash": "md5", "distribution": "ketama"}, False, False),
    ("ketama-md5-weighted", {"hash": "md5", "distribution": "ketama"}, True, True),
    ("ketama-md5-weighted-unnamed", {"hash": "md5", "distribution": "ketama"}, False, True),
    ("ketama-defaults", {}, True, False),
    ("ketama-hash_tag", {"hash": "fnv1a_64", "hash_tag": "{}"}, True, False),
    ("modula-fnv1a_64", {"hash": "fnv1a_64", "distribution": "modula"}, True, False),
    ("modula-fnv1a_64-weighted", {"hash": "fnv1a_64", "distribution": "modula"}, True, True),
    ("modula-md5-unnamed", {"hash": "md5", "distribution": "modula"}, False, False),
    ("modula-crc32a-weighted-unnamed", {"hash": "crc32a", "distribution": "modula"}, False, True),
    ("modula-crc32", {"hash": "crc32", "distribution": "modula"}, True, False),
] + [("ketama-%s" % h, {"hash": h, "distribution": "ketama"}, True, False) for h in HASHES
     if h not in ("md5", "fnv1a_64")]


@pytest.fixture(scope="module")
def servers(module_cluster):
    return module_cluster.memcached(len(WEIGHTS), prefix="dropin")


def placement(workdir, binary, name, pool, servers):
    """key -> index of the server holding it after setting every key through
    a proxy started from <binary> with <pool>."""
    for m in servers:
        m.flush_all()
    proxy = kt.Proxy(workdir, {"drop": pool}, binary=binary, name=name)
    try:
        proxy.start()
        with proxy.conn() as c:
            for i in range(0, len(KEYS), 500):
                batch = KEYS[i:i + 500]
                c.send(b"".join(kt.storage_line("set", k, b"x") for k in batch))
                replies = [c.readline() for _ in batch]
                bad = [(k, r) for k, r in zip(batch, replies) if r != b"STORED\r\n"]
                assert not bad, "%s: %d sets failed, e.g. %r" % (name, len(bad), bad[:3])
    finally:
        proxy.stop()
    where = {}
    for i, m in enumerate(servers):
        for k in m.present(KEYS):
            assert k.decode() not in where, "%s: key %r on two servers" % (name, k)
            where[k.decode()] = i
    missing = [k for k in KEYS if k not in where]
    assert not missing, "%s: %d keys on no server, e.g. %r" % (name, len(missing), missing[:3])
    return where


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_same_key_same_server_as_nutcracker(tmp_path, servers, proxy_bin, nutcracker_bin, case):
    cid, keys_, named, weighted = case
    pool = dict(keys_)
    pool["listen"] = "127.0.0.1:%d" % kt.free_port()  # the same file for both proxies
    pool["servers"] = _servers(servers, named, WEIGHTS if weighted else None)

    theirs = placement(tmp_path, nutcracker_bin, "nutcracker", pool, servers)
    ours = placement(tmp_path, proxy_bin, "ketch", pool, servers)

    # the distribution is not degenerate, so agreement means something
    counts = [sum(1 for s in theirs.values() if s == i) for i in range(len(servers))]
    if pool.get("hash") == "crc32" and pool.get("distribution") == "ketama":
        # nutcracker's crc32 is libmemcached's 15-bit one: on a 32-bit ring
        # every key lands on the owner of the ring's first stretch
        assert max(counts) == len(KEYS), counts
    else:
        assert all(counts), "nutcracker left a server empty: %r" % counts
    if weighted:
        assert counts[2] > counts[0] and counts[2] > counts[3], counts

    moved = [k for k in KEYS if theirs[k] != ours[k]]
    assert not moved, "%s: %d of %d keys on a different server than under nutcracker, e.g. %r" % (
        cid, len(moved), len(KEYS), [(k, theirs[k], ours[k]) for k in moved[:5]])


def test_hash_tag_keeps_a_tag_on_one_server(tmp_path, servers, proxy_bin):
    pool = {"hash": "fnv1a_64", "hash_tag": "{}", "servers": _servers(servers)}
    where = placement(tmp_path, proxy_bin, "tagged", pool, servers)
    by_tag = {}
    for k in KEYS:
        if k.startswith("{tag"):
            by_tag.setdefault(k.split("}")[0], set()).add(where[k])
    assert len(by_tag) == 37
    assert all(len(s) == 1 for s in by_tag.values()), by_tag
    assert len(set().union(*by_tag.values())) > 1, "all tags on one server"

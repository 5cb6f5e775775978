"""Drop-in for Redis pools: the same nutcracker config (redis: true) in front
of the same redis-servers, run under nutcracker and under ketch, must put
every key on the same server. Where a key lives is read from the servers
themselves (EXISTS on each, FLUSHALL between runs), not from either proxy."""

import random
import string

import pytest

import ketchtest as kt

WEIGHTS = [1, 2, 3, 1]
HASHES = ["md5", "crc16", "crc32", "crc32a", "fnv1_32", "fnv1a_32", "fnv1_64", "fnv1a_64",
          "hsieh", "murmur", "jenkins", "one_at_a_time"]


def _keys():
    rnd = random.Random(2014)
    keys = kt.make_keys(1000, "rdropin")
    keys += ["user:%d" % i for i in range(500)]
    keys += ["%d" % i for i in range(100)]
    alphabet = string.ascii_letters + string.digits + string.punctuation + " "
    keys += ["".join(rnd.choice(alphabet) for _ in range(rnd.choice([1, 2, 5, 40, 250, 1000])))
             for _ in range(250)]
    # RESP keys are binary-safe: control bytes, CR LF, high bytes
    keys += ["".join(chr(rnd.randrange(256)) for _ in range(rnd.choice([1, 8, 64])))
             for _ in range(100)]
    keys += ["{tag%d}:field%d" % (i % 37, i) for i in range(200)]
    keys += ["a{b}c%d" % i for i in range(50)]
    keys = list(dict.fromkeys(keys))  # unique, order kept
    assert len(keys) >= 2000
    return keys


KEYS = _keys()
KEY_BYTES = [k.encode("latin-1") for k in KEYS]


def _servers(rs, named=True, weights=None):
    weights = weights or [1] * len(rs)
    return [kt.server_line(r, w, "node%d" % (i + 1) if named else None)
            for i, (r, w) in enumerate(zip(rs, weights))]


FNV, MD5 = {"hash": "fnv1a_64", "distribution": "ketama"}, {"hash": "md5", "distribution": "ketama"}
CASES = [
    # (id, pool keys except servers, named, weighted)
    ("ketama-fnv1a_64-named", FNV, True, False),
    ("ketama-fnv1a_64-unnamed", FNV, False, False),
    ("ketama-fnv1a_64-weighted", FNV, True, True),
    ("ketama-fnv1a_64-weighted-unnamed", FNV, False, True),
    ("ketama-md5-named", MD5, True, False),
    ("ketama-md5-unnamed", MD5, False, False),
    ("ketama-md5-weighted", MD5, True, True),
    ("ketama-md5-weighted-unnamed", MD5, False, True),
    ("ketama-defaults", {}, True, False),
    ("ketama-hash_tag", dict(FNV, hash_tag="{}"), True, False),
    ("ketama-md5-hash_tag-weighted-unnamed", dict(MD5, hash_tag="{}"), False, True),
    ("ketama-redis_db", dict(FNV, redis_db=2), True, False),
    ("modula-fnv1a_64", {"hash": "fnv1a_64", "distribution": "modula"}, True, False),
    ("modula-md5-weighted-unnamed", {"hash": "md5", "distribution": "modula"}, False, True),
] + [("ketama-%s" % h, {"hash": h, "distribution": "ketama"}, True, False) for h in HASHES
     if h not in ("md5", "fnv1a_64", "crc32")]


@pytest.fixture(scope="module")
def servers(module_redis_cluster):
    return module_redis_cluster.redis(len(WEIGHTS), prefix="rdropin")


def placement(workdir, binary, name, pool, servers):
    """key -> index of the server holding it after setting every key through
    a proxy started from <binary> with <pool>."""
    db = pool.get("redis_db", 0)
    for r in servers:
        r.flushall()
    proxy = kt.Proxy(workdir, {"drop": pool}, binary=binary, name=name)
    try:
        proxy.start()
        with proxy.resp() as c:
            for i in range(0, len(KEY_BYTES), 500):
                batch = KEY_BYTES[i:i + 500]
                replies = c.pipeline([("SET", k, b"x") for k in batch])
                bad = [(k, r) for k, r in zip(batch, replies) if r != b"OK"]
                assert not bad, "%s: %d sets failed, e.g. %r" % (name, len(bad), bad[:3])
    finally:
        proxy.stop()
    where = {}
    for i, r in enumerate(servers):
        if db:
            assert not r.present(KEY_BYTES), "%s: keys in db 0, not in db %d" % (name, db)
        for k in r.present(KEY_BYTES, db=db):
            assert k not in where, "%s: key %r on two servers" % (name, k)
            where[k] = i
    missing = [k for k in KEY_BYTES if k not in where]
    assert not missing, "%s: %d keys on no server, e.g. %r" % (name, len(missing), missing[:3])
    return where


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_same_key_same_server_as_nutcracker(tmp_path, servers, proxy_bin, nutcracker_bin, case):
    cid, keys_, named, weighted = case
    pool = {"redis": True}
    pool.update(keys_)
    pool["listen"] = "127.0.0.1:%d" % kt.free_port()  # the same file for both proxies
    pool["timeout"] = 3000
    pool["servers"] = _servers(servers, named, WEIGHTS if weighted else None)

    theirs = placement(tmp_path, nutcracker_bin, "nutcracker", pool, servers)
    ours = placement(tmp_path, proxy_bin, "ketch", pool, servers)

    # the distribution is not degenerate, so agreement means something
    counts = [sum(1 for s in theirs.values() if s == i) for i in range(len(servers))]
    assert all(counts), "nutcracker left a server empty: %r" % counts
    if weighted:
        assert counts[2] > counts[0] and counts[2] > counts[3], counts

    moved = [k for k in KEY_BYTES if theirs[k] != ours[k]]
    assert not moved, "%s: %d of %d keys on a different server than under nutcracker, e.g. %r" % (
        cid, len(moved), len(KEYS), [(k, theirs[k], ours[k]) for k in moved[:5]])


def test_hash_tag_keeps_a_tag_on_one_server(tmp_path, servers, proxy_bin):
    pool = {"redis": True, "hash": "fnv1a_64", "hash_tag": "{}", "servers": _servers(servers)}
    where = placement(tmp_path, proxy_bin, "tagged", pool, servers)
    by_tag = {}
    for k in KEYS:
        if k.startswith("{tag"):
            by_tag.setdefault(k.split("}")[0], set()).add(where[k.encode("latin-1")])
    assert len(by_tag) == 37
    assert all(len(s) == 1 for s in by_tag.values()), by_tag
    assert len(set().union(*by_tag.values())) > 1, "all tags on one server"

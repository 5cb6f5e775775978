"""The Redis protocol (RESP2) through the proxy, against four real
redis-servers: every data type, nested replies, multi-key commands split per
server and merged, commands whose keys must live together, hash tags, a real
client library (redis-py, plain and pipelined), large and binary values,
inline commands, bad input, the commands the proxy refuses and the ones it
answers itself, AUTH, and servers that are down or silent.

Where a key lives is read from the servers themselves (EXISTS on each)."""

import hashlib
import random
import threading
import time

import pytest

import ketchtest as kt

OK = b"OK"
PONG = b"PONG"

# nutcracker 0.5.0 closes the client connection on any request it cannot
# parse or does not support, without a reply.
NC_CLOSES = "nutcracker closes the connection without a reply"
NC_NO_CHECK = "nutcracker sends a multi-key command to the first key's server unchecked"


def is_error(reply, prefix=b""):
    return isinstance(reply, kt.RespError) and reply.startswith(prefix)


def holders(servers, keys):
    """key (str) -> index of the server that holds it, asking each directly."""
    where = {}
    for i, r in enumerate(servers):
        for k in r.present(keys):
            k = k.decode("latin-1")
            assert k not in where, "key %r on two servers" % k
            where[k] = i
    return where


def set_all(c, keys, value=lambda k: b"v-" + k.encode()):
    replies = c.pipeline([("SET", k, value(k)) for k in keys])
    assert replies == [OK] * len(keys), [r for r in replies if r != OK][:3]


def keys_on_distinct_servers(c, servers, tag, n):
    """<n> keys (str) stored through the proxy, each on a different server."""
    keys = kt.make_keys(64, tag + ":spread")
    set_all(c, keys)
    where = holders(servers, keys)
    chosen = {}
    for k in keys:
        chosen.setdefault(where[k], k)
    assert len(chosen) >= n, "64 keys landed on fewer than %d servers" % n
    assert c.pipeline([("DEL", k) for k in keys]) == [1] * len(keys)
    return [chosen[i] for i in sorted(chosen)][:n]


def assert_serves(c, tag):
    k = tag + ":after"
    assert c.call("SET", k, "fine") == OK
    assert c.call("GET", k) == b"fine"


def second_client_works(proxy, tag):
    assert proxy.alive(), "proxy exited:\n" + kt.tail(proxy.logpath)
    with proxy.resp() as c:
        assert c.call("PING") == PONG
        assert_serves(c, tag + ":second")


@pytest.fixture
def rpy(rpool4):
    redis = pytest.importorskip("redis")
    r = redis.Redis(host="127.0.0.1", port=rpool4.port, socket_timeout=kt.IO_TIMEOUT_S,
                    socket_connect_timeout=kt.IO_TIMEOUT_S)
    yield r
    r.close()


# --------------------------------------------------------------------------
# strings and counters


def test_set_get_del(rclient, redis4, tag):
    c = rclient
    k = tag + ":a"
    assert c.call("GET", k) is None
    assert c.call("SET", k, "hello") == OK
    assert isinstance(c.call("SET", k, "hello"), kt.RespStatus)
    assert c.call("GET", k) == b"hello"
    assert sum(1 for r in redis4 if r.present([k])) == 1
    assert c.call("DEL", k) == 1
    assert c.call("GET", k) is None
    assert c.call("DEL", k) == 0


def test_set_options_and_string_commands(rclient, tag):
    c = rclient
    k = tag + ":s"
    assert c.call("SET", k, "1", "NX") == OK
    assert c.call("SET", k, "2", "NX") is None
    assert c.call("SET", k, "3", "XX") == OK
    assert c.call("SET", k, "4", "XX", "GET") == b"3"
    assert c.call("SET", tag + ":nx", "1", "XX") is None
    assert c.call("SETNX", k, "5") == 0
    assert c.call("SETNX", tag + ":new", "5") == 1
    assert c.call("GETSET", k, "hello") == b"4"
    assert c.call("APPEND", k, " world") == 11
    assert c.call("STRLEN", k) == 11
    assert c.call("GETRANGE", k, 0, 4) == b"hello"
    assert c.call("SETRANGE", k, 6, "WORLD") == 11
    assert c.call("GET", k) == b"hello WORLD"
    assert c.call("TYPE", k) == b"string"
    assert c.call("GETDEL", k) == b"hello WORLD"
    assert c.call("GET", k) is None
    assert c.call("TYPE", k) == b"none"


def test_bit_commands(rclient, tag):
    c = rclient
    k = tag + ":bits"
    assert c.call("SETBIT", k, 7, 1) == 0
    assert c.call("SETBIT", k, 7, 1) == 1
    assert c.call("GETBIT", k, 7) == 1
    assert c.call("GETBIT", k, 100) == 0
    assert c.call("BITCOUNT", k) == 1
    assert c.call("BITPOS", k, 1) == 7
    assert c.call("BITFIELD", k, "SET", "u8", 8, 255, "GET", "u8", 8) == [0, 255]


def test_counters(rclient, tag):
    c = rclient
    k = tag + ":n"
    assert c.call("INCR", k) == 1
    assert c.call("INCRBY", k, 41) == 42
    assert c.call("DECR", k) == 41
    assert c.call("DECRBY", k, 50) == -9
    assert c.call("INCRBYFLOAT", k, "1.5") == b"-7.5"
    assert c.call("GET", k) == b"-7.5"
    m = tag + ":max"
    assert c.call("SET", m, str(2 ** 63 - 1)) == OK
    assert c.call("INCR", m) == kt.RespError(b"ERR increment or decrement would overflow")


def test_server_errors_pass_through_unchanged(rclient, tag):
    c = rclient
    k = tag + ":str"
    assert c.call("SET", k, "abc") == OK
    c.command("INCR", k)
    assert c.readline() == b"-ERR value is not an integer or out of range\r\n"
    c.command("LPUSH", k, "x")
    assert c.readline() == (b"-WRONGTYPE Operation against a key holding the wrong kind "
                            b"of value\r\n")
    c.command("HGET", k, "f")
    assert c.readline().startswith(b"-WRONGTYPE ")
    assert_serves(c, tag)


def test_dump_and_restore(rclient, tag):
    c = rclient
    src, dst = tag + ":dump-src", tag + ":dump-dst"
    assert c.call("RPUSH", src, "a", "b", "c") == 3
    blob = c.call("DUMP", src)
    assert isinstance(blob, bytes) and blob
    assert c.call("RESTORE", dst, 0, blob) == OK
    assert c.call("LRANGE", dst, 0, -1) == [b"a", b"b", b"c"]
    assert is_error(c.call("RESTORE", dst, 0, blob), b"BUSYKEY")
    assert c.call("DUMP", tag + ":none") is None


def test_sort(rclient, tag):
    c = rclient
    k = tag + ":sortme"
    assert c.call("RPUSH", k, 3, 1, 2, 10) == 4
    assert c.call("SORT", k) == [b"1", b"2", b"3", b"10"]
    assert c.call("SORT", k, "ALPHA", "DESC", "LIMIT", 0, 2) == [b"3", b"2"]


# --------------------------------------------------------------------------
# expiry


def test_expire_ttl_pttl_persist(rclient, tag):
    c = rclient
    k = tag + ":e"
    assert c.call("TTL", k) == -2
    assert c.call("PTTL", k) == -2
    assert c.call("SET", k, "v", "EX", 100) == OK
    assert 95 <= c.call("TTL", k) <= 100
    assert 95000 <= c.call("PTTL", k) <= 100000
    assert c.call("PERSIST", k) == 1
    assert c.call("PERSIST", k) == 0
    assert c.call("TTL", k) == -1
    assert c.call("EXPIRE", k, 200) == 1
    assert 195 <= c.call("TTL", k) <= 200
    assert c.call("PEXPIRE", k, 300000) == 1
    assert 295000 <= c.call("PTTL", k) <= 300000
    now = int(time.time())
    assert c.call("EXPIREAT", k, now + 1000) == 1
    assert 990 <= c.call("TTL", k) <= 1000
    assert c.call("PEXPIREAT", k, (now + 2000) * 1000) == 1
    assert 1990 <= c.call("TTL", k) <= 2000
    assert c.call("EXPIRE", tag + ":none", 10) == 0
    assert c.call("SETEX", tag + ":sx", 50, "v") == OK
    assert 45 <= c.call("TTL", tag + ":sx") <= 50
    assert c.call("PSETEX", tag + ":psx", 50000, "v") == OK
    assert 45000 <= c.call("PTTL", tag + ":psx") <= 50000
    assert c.call("GETEX", tag + ":sx", "PERSIST") == b"v"
    assert c.call("TTL", tag + ":sx") == -1


def test_key_expires(rclient, tag):
    c = rclient
    k = tag + ":short"
    assert c.call("SET", k, "v", "PX", 200) == OK
    assert c.call("GET", k) == b"v"
    assert kt.wait_until(lambda: c.call("GET", k) is None, timeout=5)
    assert c.call("EXISTS", k) == 0


# --------------------------------------------------------------------------
# hashes, lists, sets, sorted sets, HyperLogLog, geo


def test_hashes(rclient, tag):
    c = rclient
    h = tag + ":h"
    assert c.call("HSET", h, "f1", "v1", "f2", "v2") == 2
    assert c.call("HSET", h, "f1", "v1b") == 0
    assert c.call("HGET", h, "f1") == b"v1b"
    assert c.call("HGET", h, "nope") is None
    assert c.call("HMGET", h, "f1", "nope", "f2") == [b"v1b", None, b"v2"]
    assert c.call("HMSET", h, "f3", "3") == OK
    assert c.call("HSETNX", h, "f3", "x") == 0
    assert c.call("HEXISTS", h, "f3") == 1
    assert c.call("HLEN", h) == 3
    assert c.call("HSTRLEN", h, "f1") == 3
    assert c.call("HINCRBY", h, "f3", 4) == 7
    assert c.call("HINCRBYFLOAT", h, "f3", "0.5") == b"7.5"
    assert sorted(c.call("HKEYS", h)) == [b"f1", b"f2", b"f3"]
    assert sorted(c.call("HVALS", h)) == [b"7.5", b"v1b", b"v2"]
    cursor, flat = c.call("HSCAN", h, 0, "COUNT", 100)
    assert cursor == b"0" and len(flat) == 6
    assert sorted(c.call("HRANDFIELD", h, 3)) == [b"f1", b"f2", b"f3"]
    assert c.call("HDEL", h, "f1", "f2", "nope") == 2
    assert c.call("HGETALL", h) == [b"f3", b"7.5"]


def test_hgetall_of_2000_fields(rclient, tag):
    c = rclient
    h = tag + ":big-hash"
    fields = {b"field-%d" % i: (b"value-%d-" % i) * (1 + i % 7) for i in range(2000)}
    args = [x for kv in fields.items() for x in kv]
    assert c.call("HSET", h, *args) == 2000
    flat = c.call("HGETALL", h)
    assert len(flat) == 4000
    assert dict(zip(flat[0::2], flat[1::2])) == fields
    assert c.call("HLEN", h) == 2000


def test_lists(rclient, tag):
    c = rclient
    k = tag + ":l"
    assert c.call("RPUSH", k, "a", "b", "c") == 3
    assert c.call("LPUSH", k, "z") == 4
    assert c.call("LPUSHX", tag + ":nolist", "x") == 0
    assert c.call("RPUSHX", k, "d") == 5
    assert c.call("LRANGE", k, 0, -1) == [b"z", b"a", b"b", b"c", b"d"]
    assert c.call("LLEN", k) == 5
    assert c.call("LINDEX", k, 1) == b"a"
    assert c.call("LINDEX", k, 99) is None
    assert c.call("LSET", k, 1, "A") == OK
    assert c.call("LINSERT", k, "BEFORE", "b", "ab") == 6
    assert c.call("LPOS", k, "b") == 3
    assert c.call("LREM", k, 0, "ab") == 1
    assert c.call("LTRIM", k, 0, 3) == OK
    assert c.call("LRANGE", k, 0, -1) == [b"z", b"A", b"b", b"c"]
    assert c.call("LPOP", k) == b"z"
    assert c.call("RPOP", k, 2) == [b"c", b"b"]
    assert c.call("RPOP", k) == b"A"
    assert c.call("RPOP", k) is None
    assert c.call("LPOP", k, 2) is None  # nil array


def test_lrange_of_5000_elements(rclient, tag):
    c = rclient
    k = tag + ":long-list"
    items = [b"item-%d" % i for i in range(5000)]
    assert c.call("RPUSH", k, *items) == 5000
    assert c.call("LRANGE", k, 0, -1) == items
    assert c.call("LRANGE", k, 4990, 10000) == items[4990:]


def test_sets(rclient, tag):
    c = rclient
    s = tag + ":set"
    assert c.call("SADD", s, "a", "b", "c", "a") == 3
    assert c.call("SCARD", s) == 3
    assert c.call("SISMEMBER", s, "a") == 1
    assert c.call("SISMEMBER", s, "x") == 0
    assert c.call("SMISMEMBER", s, "a", "x", "c") == [1, 0, 1]
    assert sorted(c.call("SMEMBERS", s)) == [b"a", b"b", b"c"]
    assert c.call("SRANDMEMBER", s) in (b"a", b"b", b"c")
    assert len(c.call("SRANDMEMBER", s, 2)) == 2
    cursor, members = c.call("SSCAN", s, 0)
    assert cursor == b"0" and sorted(members) == [b"a", b"b", b"c"]
    assert c.call("SREM", s, "a", "x") == 1
    assert c.call("SPOP", s) in (b"b", b"c")
    assert len(c.call("SPOP", s, 5)) == 1
    assert c.call("SCARD", s) == 0


def test_sorted_sets_and_withscores(rclient, tag):
    c = rclient
    z = tag + ":z"
    assert c.call("ZADD", z, 1, "one", 2, "two", "3.5", "three") == 3
    assert c.call("ZCARD", z) == 3
    c.command("ZRANGE", z, 0, -1, "WITHSCORES")
    expect = b"*6\r\n$3\r\none\r\n$1\r\n1\r\n$3\r\ntwo\r\n$1\r\n2\r\n$5\r\nthree\r\n$3\r\n3.5\r\n"
    assert c.read_exact(len(expect)) == expect
    assert c.nothing_pending()
    assert c.call("ZREVRANGE", z, 0, 0, "WITHSCORES") == [b"three", b"3.5"]
    assert c.call("ZRANGEBYSCORE", z, "(1", "+inf", "WITHSCORES", "LIMIT", 0, 1) == [
        b"two", b"2"]
    assert c.call("ZSCORE", z, "two") == b"2"
    assert c.call("ZMSCORE", z, "one", "nope") == [b"1", None]
    assert c.call("ZINCRBY", z, 10, "one") == b"11"
    assert c.call("ZRANK", z, "one") == 2
    assert c.call("ZREVRANK", z, "one") == 0
    assert c.call("ZCOUNT", z, 2, 4) == 2
    assert c.call("ZPOPMIN", z) == [b"two", b"2"]
    assert c.call("ZPOPMAX", z, 5) == [b"one", b"11", b"three", b"3.5"]
    lex = tag + ":zlex"
    assert c.call("ZADD", lex, 0, "a", 0, "b", 0, "c") == 3
    assert c.call("ZRANGEBYLEX", lex, "[b", "+") == [b"b", b"c"]
    assert c.call("ZLEXCOUNT", lex, "-", "+") == 3
    assert c.call("ZREM", lex, "a") == 1
    assert c.call("ZREMRANGEBYRANK", lex, 0, 0) == 1
    cursor, flat = c.call("ZSCAN", lex, 0)
    assert cursor == b"0" and flat == [b"c", b"0"]


def test_nested_replies(rclient, tag):
    c = rclient
    g = tag + ":geo"
    assert c.call("GEOADD", g, "13.361389", "38.115556", "Palermo",
                  "15.087269", "37.502669", "Catania") == 2
    dist = float(c.call("GEODIST", g, "Palermo", "Catania", "km"))
    assert 166 < dist < 167
    pos = c.call("GEOPOS", g, "Palermo", "Nowhere")
    assert len(pos) == 2 and len(pos[0]) == 2 and pos[1] is None
    assert abs(float(pos[0][0]) - 13.361389) < 1e-4
    found = c.call("GEOSEARCH", g, "FROMLONLAT", 15, 37, "BYRADIUS", 200, "km", "ASC",
                   "WITHCOORD", "WITHDIST")
    assert [f[0] for f in found] == [b"Catania", b"Palermo"]
    assert all(len(f) == 3 and len(f[2]) == 2 for f in found)
    # a script returning nested tables, with an error and an integer inside
    reply = c.call("EVAL", "return {1, {2, {3, 'x', {}}}, redis.error_reply('MYERR inner'), 'y'}",
                   1, tag + ":any")
    assert reply == [1, [2, [3, b"x", []]], kt.RespError(b"MYERR inner"), b"y"]


def test_hyperloglog(rclient, tag):
    c = rclient
    k = tag + ":hll"
    assert c.call("PFADD", k, *["e%d" % i for i in range(100)]) == 1
    assert c.call("PFADD", k, "e1") == 0
    assert 95 <= c.call("PFCOUNT", k) <= 105


# --------------------------------------------------------------------------
# multi-key commands split per server and merged


def test_mget_of_500_keys_in_key_order_with_misses(rclient, redis4, tag):
    c = rclient
    keys = kt.make_keys(500, tag)
    present = [k for i, k in enumerate(keys) if i % 5 != 3]
    set_all(c, present, lambda k: ("value of " + k).encode())
    where = holders(redis4, keys)
    assert len(where) == len(present)
    assert len(set(where.values())) == len(redis4), "keys should spread over all servers"
    request = list(keys)
    random.Random(500).shuffle(request)
    reply = c.call("MGET", *request)
    expect = [("value of " + k).encode() if k in where else None for k in request]
    assert reply == expect
    # duplicates and a one-key MGET
    assert c.call("MGET", request[0], request[1], request[0]) == [expect[0], expect[1], expect[0]]
    assert c.call("MGET", tag + ":absent") == [None]


def test_mset_across_servers(rclient, redis4, tag):
    c = rclient
    keys = kt.make_keys(200, tag)
    args = [x for k in keys for x in (k, "m-" + k)]
    reply = c.call("MSET", *args)
    assert reply == OK and isinstance(reply, kt.RespStatus), reply
    where = holders(redis4, keys)
    assert len(where) == 200 and len(set(where.values())) == len(redis4)
    for i, r in enumerate(redis4):
        mine = [k for k in keys if where[k] == i]
        with r.conn() as d:
            assert d.call("MGET", *mine) == [("m-" + k).encode() for k in mine]
    assert c.call("MGET", *keys) == [("m-" + k).encode() for k in keys]
    # the last of repeated keys wins, as on one server
    assert c.call("MSET", keys[0], "first", keys[1], "x", keys[0], "last") == OK
    assert c.call("GET", keys[0]) == b"last"


@pytest.mark.parametrize("cmd", ["DEL", "UNLINK"])
def test_del_unlink_counts_summed_across_servers(rclient, redis4, tag, cmd):
    c = rclient
    a, b, d = keys_on_distinct_servers(c, redis4, tag, 3)
    set_all(c, [a, b, d])
    # a key named twice is deleted once, as on one server
    assert c.call(cmd, a, b, tag + ":missing", a, d, d) == 3
    assert holders(redis4, [a, b, d]) == {}
    assert c.call(cmd, a, b, d) == 0
    set_all(c, [a, d])
    assert c.call(cmd, a, b, d) == 2


@pytest.mark.parametrize("cmd", ["EXISTS", "TOUCH"])
def test_exists_touch_on_one_server_count_every_occurrence(rclient, tag, cmd):
    c = rclient
    a, b, d = ("{%s}:%s" % (tag, x) for x in "abd")
    set_all(c, [a, b])
    assert c.call(cmd, a) == 1
    assert c.call(cmd, a, a) == 2
    assert c.call(cmd, a, b, d, tag + ":missing") == 2
    assert c.call(cmd, b, a, b, d, a, b) == 5


@pytest.mark.parametrize("cmd", [
    pytest.param("EXISTS", marks=pytest.mark.ketch_only(
        reason="nutcracker 0.5.0 sends a multi-key EXISTS to the first key's server")),
    "TOUCH"])
def test_exists_touch_counts_summed_across_servers(rclient, redis4, tag, cmd):
    c = rclient
    a, b, d = keys_on_distinct_servers(c, redis4, tag, 3)
    set_all(c, [a, b])
    assert c.call(cmd, a) == 1
    assert c.call(cmd, a, a) == 2
    assert c.call(cmd, a, b, d, tag + ":missing") == 2
    assert c.call(cmd, b, a, b, d, a, b) == 5
    assert c.call(cmd, d) == 0


def test_hash_tags_keep_a_tag_on_one_server(rclient, redis4, tag):
    c = rclient
    tags = kt.make_keys(20, tag)
    keys = ["{%s}:item%d" % (tags[i % 20], i) for i in range(200)]
    set_all(c, keys)
    where = holders(redis4, keys)
    by_tag = {}
    for k in keys:
        by_tag.setdefault(k.split("}")[0], set()).add(where[k])
    assert len(by_tag) == 20
    assert all(len(s) == 1 for s in by_tag.values()), by_tag
    assert len(set().union(*by_tag.values())) > 1, "all tags on one server"
    # a key without a tag, and one with an empty tag, hash as a whole
    assert c.call("SET", "%s:{}" % tag, "empty tag") == OK
    assert c.call("GET", "%s:{}" % tag) == b"empty tag"


# --------------------------------------------------------------------------
# the same replies as a Redis server: every command twemproxy supports, run
# through the proxy and straight against a reference server, byte for byte
# ({K} is the test's hash tag, so a group's keys live on one server)


CORPUS = {
    "strings": """
        SET {K}s hello|GET {K}s|APPEND {K}s _world|STRLEN {K}s|GETRANGE {K}s 0 4
        SETRANGE {K}s 6 W|GETSET {K}s x|SETNX {K}s y|SETNX {K}s2 y|SET {K}s z NX
        SET {K}s z XX GET|SETEX {K}e 100 v|PSETEX {K}pe 100000 v|GETEX {K}e PERSIST
        MSET {K}m1 1 {K}m2 2|MGET {K}m1 {K}none {K}m2 {K}m1|INCR {K}n|INCRBY {K}n 10
        DECR {K}n|DECRBY {K}n 100|INCRBYFLOAT {K}f 1.25|INCRBYFLOAT {K}f -0.5
        SETBIT {K}b 3 1|GETBIT {K}b 3|BITCOUNT {K}b|BITPOS {K}b 1
        BITFIELD {K}b INCRBY u8 0 5 GET u4 0|GETDEL {K}s2|GETDEL {K}s2|TYPE {K}m1
        TYPE {K}none|EXISTS {K}m1 {K}m1 {K}none {K}m2|TOUCH {K}m1 {K}none
        COPY {K}m1 {K}m3|COPY {K}m1 {K}m3|DUMP {K}m1|INCR {K}s|LPUSH {K}s x
        GET {K}none|DEL {K}m1 {K}m2 {K}m1|UNLINK {K}m3 {K}none|SET {K}big 9223372036854775807
        INCR {K}big""",
    "expiry": """
        SET {K}k v|TTL {K}k|EXPIRE {K}k 1000|PERSIST {K}k|PERSIST {K}k|TTL {K}k
        EXPIREAT {K}k 4102444800|PERSIST {K}k|PEXPIRE {K}k 1000000|PERSIST {K}k
        PEXPIREAT {K}k 4102444800000|PERSIST {K}k|TTL {K}none|PTTL {K}none
        EXPIRE {K}none 10""",
    "expiry options": """
        SET {K}k v|EXPIRE {K}k 1000 NX|EXPIRE {K}k 1000 NX|EXPIRE {K}k 2000 GT
        EXPIRE {K}k 10 LT XX|PEXPIRE {K}k 100000000 GT|PERSIST {K}k|EXPIRE {K}k 10 XX""",
    "hashes": """
        HSET {K}h a 1 b 2 c 3|HSET {K}h a 10|HGET {K}h a|HGET {K}h zz|HMGET {K}h a zz c
        HMSET {K}h d 4|HSETNX {K}h d 5|HSETNX {K}h e 5|HEXISTS {K}h e|HEXISTS {K}h zz
        HLEN {K}h|HSTRLEN {K}h a|HINCRBY {K}h b 40|HINCRBYFLOAT {K}h c 0.5|HKEYS {K}h
        HVALS {K}h|HGETALL {K}h|HSCAN {K}h 0|HDEL {K}h a zz|HGETALL {K}h|HGETALL {K}none
        HINCRBY {K}h e x|HRANDFIELD {K}none""",
    "lists": """
        RPUSH {K}l a b c d|LPUSH {K}l z|LPUSHX {K}l y|LPUSHX {K}none y|RPUSHX {K}l e
        LRANGE {K}l 0 -1|LRANGE {K}l -2 100|LLEN {K}l|LINDEX {K}l 2|LINDEX {K}l 99
        LSET {K}l 0 Y|LSET {K}l 99 x|LINSERT {K}l AFTER b bb|LINSERT {K}l BEFORE zz x
        LPOS {K}l b|LPOS {K}l b RANK 1 COUNT 0|LREM {K}l 0 bb|LTRIM {K}l 0 5
        LPOP {K}l|LPOP {K}l 2|RPOP {K}l|RPOPLPUSH {K}l {K}l2|LMOVE {K}l2 {K}l LEFT RIGHT
        LRANGE {K}l 0 -1|LRANGE {K}l2 0 -1|RPUSH {K}nums 3 10 1 2|SORT {K}nums
        SORT {K}nums DESC LIMIT 1 2|SORT {K}nums ALPHA|SORT {K}nums STORE {K}sorted
        LRANGE {K}sorted 0 -1|LPOP {K}none|LPOP {K}none 2|RPOP {K}l 100""",
    "sets": """
        SADD {K}a m n o|SADD {K}b n o p|SADD {K}a m|SCARD {K}a|SISMEMBER {K}a m
        SISMEMBER {K}a zz|SMISMEMBER {K}a m zz o|SMEMBERS {K}a|SINTER {K}a {K}b
        SUNION {K}a {K}b|SDIFF {K}a {K}b|SINTERSTORE {K}i {K}a {K}b
        SUNIONSTORE {K}u {K}a {K}b|SDIFFSTORE {K}d {K}a {K}b|SMEMBERS {K}u
        SMOVE {K}a {K}b m|SMOVE {K}a {K}b m|SREM {K}b m zz|SSCAN {K}b 0
        SMEMBERS {K}none|SADD {K}ints 3 1 2|SMEMBERS {K}ints""",
    "sorted sets": """
        ZADD {K}z 1 a 2 b 3 c|ZADD {K}z2 2 b 5 d|ZADD {K}z XX CH 10 a|ZCARD {K}z
        ZCOUNT {K}z 2 (10|ZINCRBY {K}z 0.5 b|ZLEXCOUNT {K}z - +|ZMSCORE {K}z a zz c
        ZRANGE {K}z 0 -1 WITHSCORES|ZRANGE {K}z (1 +inf BYSCORE LIMIT 1 1 WITHSCORES
        ZRANGE {K}z 0 1 REV|ZRANGEBYLEX {K}z - [b|ZRANGEBYSCORE {K}z -inf 3 WITHSCORES
        ZREVRANGE {K}z 0 -1 WITHSCORES|ZREVRANGEBYLEX {K}z + -|ZREVRANGEBYSCORE {K}z +inf 2
        ZRANK {K}z c|ZREVRANK {K}z c|ZRANK {K}z zz|ZSCORE {K}z b|ZSCORE {K}z zz
        ZDIFFSTORE {K}zd 2 {K}z {K}z2
        ZINTERSTORE {K}zi 2 {K}z {K}z2 WEIGHTS 2 3|ZUNIONSTORE {K}zu 2 {K}z {K}z2
        ZRANGESTORE {K}zr {K}zu 1 2|ZRANGE {K}zr 0 -1 WITHSCORES|ZSCAN {K}zu 0
        ZPOPMIN {K}zu|ZPOPMAX {K}zu 2|ZREM {K}zu a zz|ZREMRANGEBYLEX {K}z [a [a
        ZREMRANGEBYRANK {K}z 0 0|ZREMRANGEBYSCORE {K}z2 -inf 2|ZRANGE {K}z2 0 -1 WITHSCORES
        ZADD {K}z 1 a|ZADD {K}z x a""",
    "sorted sets, numkeys first": """
        ZADD {K}z 1 a 2 b 3 c|ZADD {K}z2 2 b 5 d|ZDIFF 2 {K}z {K}z2 WITHSCORES
        ZINTER 2 {K}z {K}z2 WITHSCORES|ZUNION 2 {K}z {K}z2 AGGREGATE MAX WITHSCORES""",
    "hyperloglog": """
        PFADD {K}p a b c|PFADD {K}p a|PFADD {K}p2 c d|PFCOUNT {K}p|PFMERGE {K}p3 {K}p {K}p2
        PFCOUNT {K}p3""",
    "geo": """
        GEOADD {K}g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania
        GEODIST {K}g Palermo Catania km|GEOHASH {K}g Palermo zz|GEOPOS {K}g Catania zz
        GEORADIUS {K}g 15 37 200 km WITHDIST ASC|GEORADIUSBYMEMBER {K}g Palermo 100 km
        GEOSEARCH {K}g FROMMEMBER Palermo BYBOX 400 400 km ASC WITHCOORD WITHDIST WITHHASH
        GEOSEARCHSTORE {K}g2 {K}g FROMLONLAT 15 37 BYRADIUS 200 km|ZRANGE {K}g2 0 -1""",
    "scripting": """
        EVAL return_{KEYS[1],ARGV[1],#KEYS} 1 {K}x arg
        EVAL redis.call('set',KEYS[1],ARGV[1]);return_redis.call('get',KEYS[1]) 1 {K}x v
        EVAL return_redis.call('incr',KEYS[1]) 1 {K}x
        EVAL return_{1,{2,{'a'}},redis.status_reply('FINE')} 2 {K}x {K}y""",
}
CORPUS_KETCH_ONLY = {
    "expiry options": "nutcracker 0.5.0 takes EXPIRE with exactly two arguments, "
                      "not Redis 7's NX/XX/GT/LT",
    "sorted sets, numkeys first": "nutcracker 0.5.0 routes ZDIFF/ZINTER/ZUNION by their "
                                  "numkeys argument",
}
# replies whose order depends on the server's hash seed
UNORDERED = {"SMEMBERS", "SINTER", "SUNION", "SDIFF"}


def _corpus(group, tag):
    out = []
    for line in CORPUS[group].replace("\n", "|").split("|"):
        if line.strip():
            argv = line.replace("{K}", "{%s}" % tag).split()
            out.append([a.replace("_", " ") if argv[0] == "EVAL" else a for a in argv])
    return out


def _normal(argv, reply):
    if argv[0] in UNORDERED and isinstance(reply, list):
        return sorted(reply)
    if argv[0] == "SSCAN" and isinstance(reply, list):
        return [reply[0], sorted(reply[1])]
    return reply


@pytest.fixture(scope="module")
def reference(module_redis_cluster):
    """A redis-server of its own, not behind the proxy: the oracle."""
    r, = module_redis_cluster.redis(1, prefix="reference")
    return r


@pytest.mark.parametrize("group", [
    pytest.param(g, id=g, marks=[pytest.mark.ketch_only(reason=CORPUS_KETCH_ONLY[g])]
                 if g in CORPUS_KETCH_ONLY else []) for g in CORPUS])
def test_same_replies_as_a_redis_server(rclient, reference, tag, group):
    with reference.conn() as ref:
        for argv in _corpus(group, tag):
            theirs = _normal(argv, ref.call(*argv))
            ours = _normal(argv, rclient.call(*argv))
            assert ours == theirs and type(ours) is type(theirs), (argv, ours, theirs)
        assert rclient.nothing_pending()


# --------------------------------------------------------------------------
# commands whose keys must live on one server


SCRIPT = ("redis.call('set', KEYS[1], 'changed'); redis.call('set', KEYS[2], 'changed'); "
          "return {KEYS[1], KEYS[2], ARGV[1]}")
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


def _setup_lists(c, a, b):
    assert c.call("RPUSH", a, "x", "y") == 2
    assert c.call("RPUSH", b, "z") == 1


def _setup_sets(c, a, b):
    assert c.call("SADD", a, "m", "n") == 2
    assert c.call("SADD", b, "n", "o") == 2


def _setup_zsets(c, a, b):
    assert c.call("ZADD", a, 1, "p", 5, "s") == 2
    assert c.call("ZADD", b, 2, "q", 7, "s") == 2


def _setup_hlls(c, a, b):
    assert c.call("PFADD", a, "x") == 1
    assert c.call("PFADD", b, "y") == 1


def _setup_strings(c, a, b):
    assert c.call("SET", a, "va") == OK
    assert c.call("SET", b, "vb") == OK


def _setup_rename(c, a, b):
    assert c.call("SET", a, "va") == OK


def _setup_none(c, a, b):
    pass


def _members(x):
    return sorted(x)


# name -> (setup, argv(a, b, dest), check(reply, c, a, b, dest), ketch-only reason or None)
TOGETHER = {
    "MSETNX": (_setup_none, lambda a, b, d: ["MSETNX", a, "1", b, "2"],
               lambda r, c, a, b, d: r == 1 and c.call("MGET", a, b) == [b"1", b"2"]
               and c.call("MSETNX", a, "3", d, "4") == 0 and c.call("EXISTS", d) == 0,
               "nutcracker does not support MSETNX"),
    "RPOPLPUSH": (_setup_lists, lambda a, b, d: ["RPOPLPUSH", a, b],
                  lambda r, c, a, b, d: r == b"y" and c.call("LRANGE", b, 0, -1) == [b"y", b"z"],
                  None),
    "LMOVE": (_setup_lists, lambda a, b, d: ["LMOVE", a, b, "LEFT", "RIGHT"],
              lambda r, c, a, b, d: r == b"x" and c.call("LRANGE", b, 0, -1) == [b"z", b"x"],
              None),
    "SMOVE": (_setup_sets, lambda a, b, d: ["SMOVE", a, b, "m"],
              lambda r, c, a, b, d: r == 1 and _members(c.call("SMEMBERS", b)) == [
                  b"m", b"n", b"o"], None),
    "SINTER": (_setup_sets, lambda a, b, d: ["SINTER", a, b],
               lambda r, c, a, b, d: r == [b"n"], None),
    "SINTERSTORE": (_setup_sets, lambda a, b, d: ["SINTERSTORE", d, a, b],
                    lambda r, c, a, b, d: r == 1 and c.call("SMEMBERS", d) == [b"n"], None),
    "SUNION": (_setup_sets, lambda a, b, d: ["SUNION", a, b],
               lambda r, c, a, b, d: _members(r) == [b"m", b"n", b"o"], None),
    "SUNIONSTORE": (_setup_sets, lambda a, b, d: ["SUNIONSTORE", d, a, b],
                    lambda r, c, a, b, d: r == 3 and c.call("SCARD", d) == 3, None),
    "SDIFF": (_setup_sets, lambda a, b, d: ["SDIFF", a, b],
              lambda r, c, a, b, d: r == [b"m"], None),
    "SDIFFSTORE": (_setup_sets, lambda a, b, d: ["SDIFFSTORE", d, a, b],
                   lambda r, c, a, b, d: r == 1 and c.call("SMEMBERS", d) == [b"m"], None),
    "ZUNIONSTORE": (_setup_zsets, lambda a, b, d: ["ZUNIONSTORE", d, 2, a, b],
                    lambda r, c, a, b, d: r == 3 and c.call("ZSCORE", d, "s") == b"12", None),
    "ZINTERSTORE": (_setup_zsets, lambda a, b, d: ["ZINTERSTORE", d, 2, a, b, "AGGREGATE", "MAX"],
                    lambda r, c, a, b, d: r == 1 and c.call("ZRANGE", d, 0, -1, "WITHSCORES") == [
                        b"s", b"7"], None),
    "PFMERGE": (_setup_hlls, lambda a, b, d: ["PFMERGE", d, a, b],
                lambda r, c, a, b, d: r == OK and c.call("PFCOUNT", d) == 2, None),
    "EVAL": (_setup_strings, lambda a, b, d: ["EVAL", SCRIPT, 2, a, b, "arg"],
             lambda r, c, a, b, d: r == [a.encode(), b.encode(), b"arg"]
             and c.call("GET", b) == b"changed", None),
    "EVALSHA": (_setup_strings, lambda a, b, d: ["EVALSHA", SCRIPT_SHA, 2, a, b, "arg"],
                lambda r, c, a, b, d: r == [a.encode(), b.encode(), b"arg"]
                and c.call("GET", a) == b"changed", None),
    "RENAME": (_setup_rename, lambda a, b, d: ["RENAME", a, b],
               lambda r, c, a, b, d: r == OK and c.call("GET", b) == b"va"
               and c.call("EXISTS", a) == 0, "nutcracker does not support RENAME"),
    "RENAMENX": (_setup_rename, lambda a, b, d: ["RENAMENX", a, b],
                 lambda r, c, a, b, d: r == 1 and c.call("GET", b) == b"va"
                 and c.call("RENAMENX", b, b) == 0, "nutcracker does not support RENAMENX"),
}


def _together_params():
    out = []
    for name, (_, _, _, only) in TOGETHER.items():
        marks = [pytest.mark.ketch_only(reason=only)] if only else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


def _load_script_on_every_server(servers):
    for r in servers:
        with r.conn() as d:
            assert d.call("SCRIPT", "LOAD", SCRIPT) == SCRIPT_SHA.encode()


@pytest.mark.parametrize("name", _together_params())
def test_keys_on_one_server_work(rclient, redis4, tag, name):
    setup, argv, check, _ = TOGETHER[name]
    c = rclient
    a, b, d = ("{%s}:%s" % (tag, x) for x in ("a", "b", "dest"))
    if name == "EVALSHA":
        _load_script_on_every_server(redis4)
    setup(c, a, b)
    reply = c.call(*argv(a, b, d))
    assert check(reply, c, a, b, d), reply
    assert len(set(holders(redis4, [a, b, d]).values())) == 1


def _snapshot(servers, keys):
    """What the servers hold under <keys>: {key: (server, DUMP)}."""
    out = {}
    for i, r in enumerate(servers):
        with r.conn() as d:
            for k in keys:
                blob = d.call("DUMP", k)
                if blob is not None:
                    out[k] = (i, blob)
    return out


@pytest.mark.ketch_only(reason=NC_NO_CHECK)
@pytest.mark.parametrize("name", list(TOGETHER))
def test_keys_on_different_servers_are_refused(rclient, redis4, tag, name):
    setup, argv, _, _ = TOGETHER[name]
    c = rclient
    a, b = keys_on_distinct_servers(c, redis4, tag, 2)
    if name == "EVALSHA":
        _load_script_on_every_server(redis4)
    setup(c, a, b)
    before = _snapshot(redis4, [a, b])
    reply = c.call(*argv(a, b, a))
    assert is_error(reply, b"ERR"), reply
    assert "different servers" in str(reply), reply
    assert _snapshot(redis4, [a, b]) == before, "%s was executed anyway" % name
    assert_serves(c, tag)


@pytest.mark.ketch_only(reason=NC_NO_CHECK)
def test_destination_on_another_server_is_refused(rclient, redis4, tag):
    c = rclient
    a, b = keys_on_distinct_servers(c, redis4, tag, 2)
    src1, src2 = "{%s}:s1" % tag, "{%s}:s2" % tag
    _setup_sets(c, src1, src2)
    # one of a, b is on another server than the tagged sources
    where = holders(redis4, [src1])
    set_all(c, [a, b])
    other = [k for k, i in holders(redis4, [a, b]).items() if i != where[src1]][0]
    assert c.call("DEL", a, b) == 2
    for cmd in ("SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"):
        reply = c.call(cmd, other, src1, src2)
        assert is_error(reply, b"ERR") and "different servers" in str(reply), (cmd, reply)
    reply = c.call("ZUNIONSTORE", other, 2, src1, src2)
    assert is_error(reply, b"ERR") and "different servers" in str(reply), reply
    assert holders(redis4, [other]) == {}


def test_eval_arguments_after_numkeys_are_not_keys(rclient, redis4, tag):
    c = rclient
    a, b = keys_on_distinct_servers(c, redis4, tag, 2)
    reply = c.call("EVAL", "redis.call('set', KEYS[1], ARGV[1]); return ARGV[2]", 1, a, b, "z")
    assert reply == b"z"
    assert c.call("GET", a) == b.encode()


@pytest.mark.ketch_only(reason="nutcracker does not support SCRIPT")
def test_script_load_reaches_every_server_and_evalsha_works_anywhere(rclient, redis4, tag):
    c = rclient
    script = "return {KEYS[1], ARGV[1], '%s'}" % tag
    sha = hashlib.sha1(script.encode()).hexdigest().encode()
    assert c.call("SCRIPT", "LOAD", script) == sha
    for r in redis4:
        with r.conn() as d:
            assert d.call("SCRIPT", "EXISTS", sha) == [1], r.name
    keys = keys_on_distinct_servers(c, redis4, tag, len(redis4))
    for k in keys:
        assert c.call("EVALSHA", sha, 1, k, "arg") == [k.encode(), b"arg", tag.encode()]
    assert c.call("evalsha", sha, 1, keys[0], "x") == [keys[0].encode(), b"x", tag.encode()]


# --------------------------------------------------------------------------
# pipelining, split writes, concurrency


def test_pipelined_commands_answer_in_order(rclient, tag):
    c = rclient
    keys = kt.make_keys(300, tag)
    cmds = []
    for i, k in enumerate(keys):
        cmds += [("SET", k, i), ("INCR", k), ("GET", k), ("MGET", k, keys[i - 1])]
    replies = c.pipeline(cmds)
    for i, k in enumerate(keys):
        s, n, g, m = replies[4 * i:4 * i + 4]
        assert (s, n, g) == (OK, i + 1, b"%d" % (i + 1)), (k, s, n, g)
        prev = None if i == 0 else b"%d" % i
        assert m == [b"%d" % (i + 1), prev], (k, m)


def test_request_split_into_single_bytes(rclient, tag):
    c = rclient
    k = tag + ":slow"
    c.send_slowly(kt.resp_command("SET", k, "x" * 50) + kt.resp_command("GET", k), chunk=1)
    assert c.read_reply() == OK
    assert c.read_reply() == b"x" * 50


def test_concurrent_clients(rpool4, tag):
    k = tag + ":counter"
    errors = []

    def worker(n):
        try:
            with rpool4.resp() as c:
                for i in range(200):
                    assert isinstance(c.call("INCR", k), int)
                    own = "%s:w%d:%d" % (tag, n, i)
                    assert c.call("SET", own, own) == OK
                    assert c.call("GET", own) == own.encode()
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    with rpool4.resp() as c:
        assert c.call("GET", k) == b"1600"


# --------------------------------------------------------------------------
# values and keys


@pytest.mark.parametrize("size", [0, 1, 16383, 16384, 16385, 65536, 1048575, 1048576, 1048577])
def test_value_sizes(rclient, tag, size):
    c = rclient
    k = "%s:%d" % (tag, size)
    value = random.Random(size).randbytes(size)
    assert c.call("SET", k, value) == OK
    assert c.call("GET", k) == value
    assert c.call("STRLEN", k) == size


def test_fifty_mib_value(rclient, tag):
    c = rclient
    k = tag + ":50mib"
    value = bytes(range(256)) * (50 * 4096)
    assert len(value) == 50 * 1048576
    assert c.call("SET", k, value) == OK
    assert c.call("GET", k) == value
    others = kt.make_keys(6, tag)
    set_all(c, others)
    reply = c.call("MGET", others[0], k, *others[1:])
    assert reply[1] == value
    assert reply[0] == b"v-" + others[0].encode()
    assert c.call("DEL", k) == 1


BINARY_VALUES = [
    bytes(range(256)),
    b"\r\n",
    b"$5\r\nhello\r\n",
    b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
    b"+OK\r\n-ERR x\r\n:1\r\n",
    b"\x00" * 10,
    b"\n" * 100 + b"\r" * 100,
]


@pytest.mark.parametrize("value", BINARY_VALUES, ids=range(len(BINARY_VALUES)))
def test_binary_safe_values(rclient, tag, value):
    c = rclient
    k = tag + ":bin"
    assert c.call("SET", k, value) == OK
    assert c.call("GET", k) == value
    others = kt.make_keys(8, tag)
    set_all(c, others)
    assert c.call("MGET", others[0], k, *others[1:]) == (
        [b"v-" + others[0].encode(), value] + [b"v-" + o.encode() for o in others[1:]])
    assert c.call("HSET", k + "h", value, value) == 1
    assert c.call("HGETALL", k + "h") == [value, value]


def test_binary_and_long_keys(rclient, redis4, tag):
    c = rclient
    keys = [tag.encode() + s for s in (b"\x00", b"\r\n", b" a b ", b"\xff\xfe", b"$3\r\n",
                                       b"{\r\n}", b"k" * 5000)]
    for k in keys:
        assert c.call("SET", k, b"v" + k) == OK, k
    assert c.call("MGET", *keys) == [b"v" + k for k in keys]
    for k in keys:
        assert sum(1 for r in redis4 if r.present([k])) == 1, k
    assert c.call("DEL", *keys) == len(keys)


def test_empty_key_and_empty_value(rclient, redis4, tag):
    c = rclient
    try:
        assert c.call("SET", "", "empty key") == OK
        assert c.call("GET", "") == b"empty key"
        assert sum(1 for r in redis4 if r.present([""])) == 1
        assert c.call("MGET", "", tag + ":x") == [b"empty key", None]
        assert c.call("EXISTS", "", "") == 2
    finally:
        assert c.call("DEL", "") == 1
    k = tag + ":empty"
    assert c.call("SET", k, "") == OK
    assert c.call("GET", k) == b""
    c.command("GET", k)
    assert c.readline() == b"$0\r\n" and c.readline() == b"\r\n"
    assert c.call("STRLEN", k) == 0


# --------------------------------------------------------------------------
# a real client library


def test_redis_py_plain_use(rpy, tag):
    r = rpy
    assert r.ping() is True
    assert r.set(tag + ":a", "1") is True
    assert r.get(tag + ":a") == b"1"
    assert r.incr(tag + ":a", 5) == 6
    keys = kt.make_keys(50, tag)
    assert r.mset({k: k for k in keys}) is True
    assert r.mget(keys + [tag + ":none"]) == [k.encode() for k in keys] + [None]
    assert r.exists(keys[0]) == 1
    assert r.delete(*keys[:10]) == 10
    assert r.hset(tag + ":h", mapping={"x": "1", "y": "2"}) == 2
    assert r.hgetall(tag + ":h") == {b"x": b"1", b"y": b"2"}
    assert r.rpush(tag + ":l", *range(10)) == 10
    assert r.lrange(tag + ":l", 0, 2) == [b"0", b"1", b"2"]
    assert r.sadd(tag + ":s", "a", "b") == 2
    assert r.smembers(tag + ":s") == {b"a", b"b"}
    assert r.zadd(tag + ":z", {"a": 1, "b": 2.5}) == 2
    assert r.zrange(tag + ":z", 0, -1, withscores=True) == [(b"a", 1.0), (b"b", 2.5)]
    assert r.expire(tag + ":a", 100) is True
    assert 0 < r.ttl(tag + ":a") <= 100
    redis = pytest.importorskip("redis")
    with pytest.raises(redis.ResponseError):
        r.lpush(tag + ":a", "x")
    assert r.get(tag + ":a") == b"6"


def test_redis_py_pipeline_of_1000_commands(rpy, tag):
    r = rpy
    keys = kt.make_keys(250, tag)
    p = r.pipeline(transaction=False)
    for i, k in enumerate(keys):
        p.set(k, i)
        p.incr(k)
        p.get(k)
        p.mget([k, keys[0]])
    replies = p.execute()
    assert len(replies) == 1000
    for i, k in enumerate(keys):
        assert replies[4 * i:4 * i + 3] == [True, i + 1, b"%d" % (i + 1)]
        assert replies[4 * i + 3] == [b"%d" % (i + 1), b"1"]


def test_redis_py_pipeline_with_errors_inside(rpy, tag):
    redis = pytest.importorskip("redis")
    r = rpy
    p = r.pipeline(transaction=False)
    p.set(tag + ":s", "abc")
    p.incr(tag + ":s")
    p.get(tag + ":s")
    replies = p.execute(raise_on_error=False)
    assert replies[0] is True and replies[2] == b"abc"
    assert isinstance(replies[1], redis.ResponseError)


# --------------------------------------------------------------------------
# inline commands


@pytest.mark.ketch_only(reason=NC_CLOSES + " on inline commands")
def test_inline_commands(rclient, redis4, tag):
    c = rclient
    c.send(b"PING\r\n")
    assert c.readline() == b"+PONG\r\n"
    k = (tag + ":inline").encode()
    c.send(b"SET " + k + b" v\r\n")
    assert c.readline() == b"+OK\r\n"
    c.send(b"GET " + k + b"\r\n")
    assert c.readline() == b"$1\r\n"
    assert c.readline() == b"v\r\n"
    # inline and RESP mixed in one write, and a multi-key inline command
    a, b = keys_on_distinct_servers(c, redis4, tag, 2)
    c.send(b"SET " + a.encode() + b" 1\r\n" + kt.resp_command("SET", b, "2")
           + b"MGET " + a.encode() + b" " + b.encode() + b" " + k + b"\r\n"
           + b"ping\r\n")
    assert c.read_reply() == OK
    assert c.read_reply() == OK
    assert c.read_reply() == [b"1", b"2", b"v"]
    assert c.read_reply() == PONG
    assert c.nothing_pending()


# --------------------------------------------------------------------------
# bad input


MALFORMED = [
    b"*2\r\n$3\r\nGET\r\nxx\r\n",
    b"*1\r\n$-5\r\n",
    b"*abc\r\n",
    b"$3\r\nfoo\r\n",
    b"*1\r\n$3\r\nGETxx\r\n",
    b"*1\r\n:5\r\n",
]
OVER_LIMITS = [
    b"*1\r\n$600000000\r\n",
]


@pytest.mark.parametrize("frame", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_frame_closes_only_that_connection(own_rpool4, tag, frame):
    with own_rpool4.resp() as c:
        c.send(frame)
        assert c.expect_closed(), "the connection stayed open after %r" % frame
    second_client_works(own_rpool4, tag)


@pytest.mark.ketch_only(reason=NC_CLOSES)
@pytest.mark.parametrize("frame", MALFORMED + OVER_LIMITS,
                         ids=range(len(MALFORMED) + len(OVER_LIMITS)))
def test_malformed_frame_gets_protocol_error_then_close(own_rpool4, tag, frame):
    with own_rpool4.resp() as c:
        # a good command first: its reply comes before the error
        c.send(kt.resp_command("PING") + frame)
        assert c.read_reply() == PONG
        reply = c.readline()
        assert reply.startswith(b"-ERR Protocol error"), reply
        assert c.expect_closed(), "the connection stayed open after %r" % frame
    second_client_works(own_rpool4, tag)


@pytest.mark.parametrize("line, name", [
    pytest.param(("GET",), "get", marks=pytest.mark.ketch_only(reason=NC_CLOSES)),
    pytest.param(("GET", "a", "b"), "get", marks=pytest.mark.ketch_only(reason=NC_CLOSES)),
    pytest.param(("get", "a", "b"), "get", marks=pytest.mark.ketch_only(reason=NC_CLOSES)),
    pytest.param(("GeT",), "get", marks=pytest.mark.ketch_only(reason=NC_CLOSES)),
    pytest.param(("MGET",), "mget", marks=pytest.mark.ketch_only(reason=NC_CLOSES)),
    pytest.param(("DEL",), "del", marks=pytest.mark.ketch_only(reason=NC_CLOSES)),
    pytest.param(("SET", "a"), "set"),
    pytest.param(("HSET", "h", "f"), "hset"),
    pytest.param(("EXPIRE", "a"), "expire", marks=pytest.mark.ketch_only(reason=NC_CLOSES)),
])
def test_wrong_number_of_arguments(rclient, tag, line, name):
    c = rclient
    c.command(*line)
    assert c.readline() == b"-ERR wrong number of arguments for '%s' command\r\n" % name.encode()
    assert_serves(c, tag)


def _send_or_closed(c, data):
    try:
        c.send(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def test_two_million_arguments(own_rpool4, tag):
    # announced only: the proxy waits for the rest or refuses; it neither
    # crashes nor hurts anyone else
    with own_rpool4.resp() as c:
        c.send(b"*2000000\r\n")
        second_client_works(own_rpool4, tag)
    # sent in full: an error or the real answer
    n = 2000000
    k = (tag + ":2m").encode()
    data = b"*%d\r\n$6\r\nEXISTS\r\n" % n + (b"$%d\r\n%s\r\n" % (len(k), k)) * (n - 1)
    with own_rpool4.resp(timeout=60) as c:
        assert c.call("SET", k, "v") == OK
        sent = _send_or_closed(c, data)
        try:
            reply = c.read_reply()
        except (EOFError, ConnectionResetError):
            reply = None
        assert reply == n - 1 or is_error(reply, b"ERR") or (reply is None and not sent), reply
    second_client_works(own_rpool4, tag)


# --------------------------------------------------------------------------
# commands the proxy refuses


REFUSED = [
    ("KEYS", "*"), ("SCAN", "0"), ("MULTI",), ("EXEC",), ("WATCH", "k"), ("BLPOP", "k", "0"),
    ("BRPOP", "k", "0"), ("SUBSCRIBE", "ch"), ("PUBLISH", "ch", "m"), ("MONITOR",),
    ("CONFIG", "GET", "maxmemory"), ("FLUSHALL",), ("FLUSHDB",), ("SHUTDOWN", "NOSAVE"),
    ("RANDOMKEY",), ("DBSIZE",), ("keys", "*"), ("FlushAll",),
]


@pytest.fixture(scope="module")
def refusing(module_redis_cluster):
    """A proxy over two servers of its own: a refused command that slipped
    through (FLUSHALL, SHUTDOWN) would not hurt the other tests."""
    servers = module_redis_cluster.redis(2, prefix="refuse")
    proxy = module_redis_cluster.proxy(kt.redis_pool_config(servers), name="refusing")
    return proxy, servers


@pytest.mark.ketch_only(reason=NC_CLOSES + " on unsupported commands")
@pytest.mark.parametrize("argv", REFUSED, ids=[" ".join(a) for a in REFUSED])
def test_refused_commands(refusing, tag, argv):
    proxy, servers = refusing
    for r in servers:
        with r.conn() as d:
            assert d.call("SET", "sentinel", r.name) == OK
    with proxy.resp(timeout=3) as c:
        c.command(*argv)
        line = c.readline()
        assert line.lower() == b"-err unsupported command '%s'\r\n" % argv[0].lower().encode(), line
        assert c.call("PING") == PONG
        assert_serves(c, tag)
    for r in servers:
        assert r.alive(), "%s was shut down" % r.name
        with r.conn() as d:
            assert d.call("GET", "sentinel") == r.name.encode(), "%s reached %s" % (argv, r.name)


# --------------------------------------------------------------------------
# commands the proxy answers itself


def test_ping(rclient):
    assert rclient.call("PING") == PONG
    assert isinstance(rclient.call("PING"), kt.RespStatus)


@pytest.mark.ketch_only(reason=NC_CLOSES + " on PING with an argument and on ECHO")
def test_ping_with_argument_and_echo(rclient):
    c = rclient
    c.command("PING", "hello there")
    assert c.readline() == b"$11\r\n" and c.readline() == b"hello there\r\n"
    assert c.call("ECHO", "hi") == b"hi"
    assert not isinstance(c.call("ECHO", "hi"), kt.RespStatus)
    assert c.call("ECHO", b"\r\n\x00") == b"\r\n\x00"


def test_quit_closes(rpool4):
    with rpool4.resp() as c:
        c.command("QUIT")
        assert c.expect_closed()


@pytest.mark.ketch_only(reason="nutcracker closes on QUIT without +OK")
def test_quit_answers_ok_then_closes(rpool4, tag):
    with rpool4.resp() as c:
        c.send(kt.resp_command("SET", tag + ":q", "1") + kt.resp_command("QUIT")
               + kt.resp_command("GET", tag + ":q"))
        assert c.read_reply() == OK
        assert c.read_reply() == OK
        assert c.expect_closed()
        assert c.buf == b"", "a reply after QUIT: %r" % bytes(c.buf)


@pytest.mark.ketch_only(reason=NC_CLOSES + " on SELECT")
def test_select(rclient, tag):
    c = rclient
    assert c.call("SELECT", 0) == OK
    reply = c.call("SELECT", 1)
    assert is_error(reply, b"ERR"), reply
    assert is_error(c.call("SELECT", "x"), b"ERR")
    assert_serves(c, tag)


@pytest.fixture(scope="module")
def db3_proxy(module_redis_cluster, redis4):
    return module_redis_cluster.proxy(kt.redis_pool_config(redis4, redis_db=3), name="db3")


def test_redis_db_selects_the_database_upstream(db3_proxy, redis4, tag):
    keys = kt.make_keys(40, tag)
    with db3_proxy.resp() as c:
        set_all(c, keys)
        assert c.call("MGET", *keys) == [b"v-" + k.encode() for k in keys]
    in3 = set()
    for r in redis4:
        assert not r.present(keys, db=0), "a key landed in db 0"
        in3 |= r.present(keys, db=3)
    assert in3 == {k.encode() for k in keys}


@pytest.mark.ketch_only(reason=NC_CLOSES + " on SELECT")
def test_select_of_the_pools_db(db3_proxy, tag):
    with db3_proxy.resp() as c:
        assert c.call("SELECT", 3) == OK
        assert c.call("SELECT", 0) == OK
        assert is_error(c.call("SELECT", 5), b"ERR")
        assert_serves(c, tag)


@pytest.mark.ketch_only(reason=NC_CLOSES + " on COMMAND")
def test_command(rclient):
    c = rclient
    n = c.call("COMMAND", "COUNT")
    assert isinstance(n, int) and n > 0
    info = c.call("COMMAND", "INFO", "get")
    assert isinstance(info, list) and len(info) == 1
    assert info[0][0] == b"get" and info[0][1] == 2, info
    assert c.call("command", "info", "GET")[0][0] == b"get"


@pytest.mark.ketch_only(reason=NC_CLOSES + " on HELLO")
def test_hello(rclient, tag):
    c = rclient
    for argv in (("HELLO",), ("HELLO", "2")):
        reply = c.call(*argv)
        assert isinstance(reply, list) and len(reply) % 2 == 0, reply
        fields = dict(zip(reply[0::2], reply[1::2]))
        assert fields.get(b"proto") == 2, reply
    reply = c.call("HELLO", "3")
    assert is_error(reply, b"NOPROTO"), reply
    assert_serves(c, tag)


@pytest.mark.ketch_only(reason=NC_CLOSES + " on INFO")
def test_info(rclient):
    reply = rclient.call("INFO")
    assert isinstance(reply, bytes) and not isinstance(reply, kt.RespStatus)
    assert b"# Server" in reply


# --------------------------------------------------------------------------
# AUTH


@pytest.fixture(scope="module")
def auth_proxy(module_redis_cluster):
    """A pool with redis_auth in front of servers that require the same
    password: a proxy that did not authenticate upstream would fail."""
    servers = module_redis_cluster.redis(3, prefix="auth", requirepass="pw")
    proxy = module_redis_cluster.proxy(kt.redis_pool_config(servers, redis_auth="pw"),
                                       name="auth")
    return proxy, servers


def test_auth_required_before_any_command(auth_proxy, tag):
    proxy, _ = auth_proxy
    with proxy.resp() as c:
        for argv in (("GET", tag), ("SET", tag, "x"), ("MGET", tag, tag + "2"), ("DEL", tag),
                     ("INCR", tag), ("HGETALL", tag), ("EXISTS", tag, tag + "2")):
            reply = c.call(*argv)
            assert is_error(reply, b"NOAUTH"), (argv, reply)


def test_auth_wrong_then_right(auth_proxy, tag):
    proxy, servers = auth_proxy
    with proxy.resp() as c:
        reply = c.call("AUTH", "wrong")
        assert is_error(reply), reply
        assert is_error(c.call("GET", tag), b"NOAUTH")
        assert c.call("AUTH", "pw") == OK
        keys = kt.make_keys(30, tag)
        set_all(c, keys)
        assert c.call("MGET", *keys) == [b"v-" + k.encode() for k in keys]
        assert len(set(holders(servers, keys).values())) == len(servers)
        assert c.call("DEL", *keys) == 30


def test_ping_before_auth(auth_proxy):
    proxy, _ = auth_proxy
    with proxy.resp() as c:
        assert is_error(c.call("PING"), b"NOAUTH")


def test_auth_with_redis_py(auth_proxy, tag):
    redis = pytest.importorskip("redis")
    proxy, _ = auth_proxy
    r = redis.Redis(host="127.0.0.1", port=proxy.port, password="pw",
                    socket_timeout=kt.IO_TIMEOUT_S)
    try:
        keys = kt.make_keys(20, tag)
        assert r.mset({k: k for k in keys}) is True
        assert r.mget(keys) == [k.encode() for k in keys]
    finally:
        r.close()
    bad = redis.Redis(host="127.0.0.1", port=proxy.port, password="nope",
                      socket_timeout=kt.IO_TIMEOUT_S)
    try:
        with pytest.raises(redis.RedisError):
            bad.get(tag)
    finally:
        bad.close()


# --------------------------------------------------------------------------
# servers down or silent


@pytest.fixture
def faulty(tmp_path, redis4):
    """Two real servers, one that never answers and one that is not there."""
    cluster = kt.Cluster(tmp_path)
    try:
        silent = cluster.silent()
        dead_port = kt.free_port()
        servers = [kt.server_line(redis4[0], 1, "real1"), kt.server_line(silent, 1, "silent"),
                   kt.server_line(redis4[1], 1, "real2"), "127.0.0.1:%d:1 dead" % dead_port]
        proxy = cluster.proxy({"faulty": {"redis": True, "hash": "fnv1a_64", "timeout": 500,
                                          "servers": servers}})
        yield proxy, redis4[:2]
    finally:
        cluster.close()


def _classify(proxy, keys):
    """Set every key one at a time; (keys stored, keys answered an error)."""
    good, bad = [], []
    with proxy.resp() as c:
        for k in keys:
            t0 = time.monotonic()
            reply = c.call("SET", k, "v")
            elapsed = time.monotonic() - t0
            assert elapsed < 5, "SET %s took %.1f s" % (k, elapsed)
            if reply == OK:
                good.append(k)
            else:
                assert is_error(reply, b"ERR"), reply
                bad.append(k)
    return good, bad


def test_down_or_silent_server_gets_error_not_hang(faulty, tag):
    proxy, real = faulty
    keys = kt.make_keys(24, tag)
    good, bad = _classify(proxy, keys)
    assert good and bad, (good, bad)
    found = set()
    for r in real:
        found |= r.present(keys)
    assert found == {k.encode() for k in good}
    with proxy.resp() as c:
        # errors and answers interleaved on one connection, in order
        replies = c.pipeline([("GET", k) for k in keys])
        for k, reply in zip(keys, replies):
            if k in good:
                assert reply == b"v", (k, reply)
            else:
                assert is_error(reply, b"ERR"), (k, reply)
        assert c.call("MGET", *good) == [b"v"] * len(good)
    with proxy.resp() as c:
        t0 = time.monotonic()
        reply = c.call("MGET", *keys)
        assert time.monotonic() - t0 < 5
        assert is_error(reply, b"ERR") or isinstance(reply, list), reply
    assert proxy.alive()
    with proxy.resp() as c:
        assert c.call("GET", good[0]) == b"v"


@pytest.mark.ketch_only(reason="nutcracker closes the connection after a failed multi-key request")
def test_failed_mget_keeps_the_connection(faulty, tag):
    proxy, real = faulty
    keys = kt.make_keys(24, tag)
    good, bad = _classify(proxy, keys)
    with proxy.resp() as c:
        reply = c.call("MGET", *keys)
        assert is_error(reply, b"ERR") or isinstance(reply, list), reply
        if isinstance(reply, list):
            assert [v for k, v in zip(keys, reply) if k in good] == [b"v"] * len(good)
        assert c.call("MGET", *good) == [b"v"] * len(good)


@pytest.mark.ketch_only(reason="nutcracker does not know CLIENT")
def test_client_name_is_kept_for_the_connection(rpool4):
    import redis
    named = redis.Redis(port=rpool4.port, client_name="app-1", socket_timeout=kt.IO_TIMEOUT_S)
    plain = redis.Redis(port=rpool4.port, socket_timeout=kt.IO_TIMEOUT_S)
    try:
        assert named.ping() is True
        assert named.client_getname() == "app-1"
        assert plain.client_getname() is None
        assert isinstance(named.client_id(), int)
        with pytest.raises(redis.ResponseError, match="unsupported command 'client list'"):
            plain.execute_command("CLIENT", "LIST")
        with pytest.raises(redis.ResponseError, match="cannot contain spaces"):
            plain.client_setname("a b")
        assert plain.ping() is True
    finally:
        named.close()
        plain.close()

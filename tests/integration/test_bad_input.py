"""Bad input from clients and bad behaviour from servers: the proxy answers
with the protocol's errors, keeps serving whatever it can resynchronise, never
crashes, and never hangs on a server that does not answer."""

import random
import time

import pytest

import ketchtest as kt

STORED = b"STORED\r\n"
TOO_LARGE = b"SERVER_ERROR object too large for cache\r\n"

# nutcracker 0.5.0 closes the client connection on any request it cannot
# parse, where ketch answers the error and keeps the connection.
NC_CLOSES = "nutcracker closes the connection on a parse error"


def resync(c):
    """Send a marker command; return the lines that arrived before its reply.
    Proves the connection still serves and how many error lines came back."""
    c.send(b"version\r\n")
    before = []
    while True:
        line = c.readline()
        if line.startswith(b"VERSION "):
            return before
        before.append(line)
        assert len(before) < 10, before


def assert_serves(c, tag):
    k = tag + ":after"
    assert c.set(k, b"fine") == STORED
    assert c.get(k) == b"fine"


# --------------------------------------------------------------------------
# unknown commands and malformed lines


@pytest.mark.ketch_only(reason=NC_CLOSES)
@pytest.mark.parametrize("line", [b"foo", b"foo bar baz", b"GET k", b"gett k",
                                  b"\x01\x02\x03", b"sets k 0 0 1"])
def test_unknown_command_is_error_and_connection_goes_on(client, tag, line):
    assert client.call(line) == b"ERROR\r\n"
    assert resync(client) == []
    assert_serves(client, tag)


@pytest.mark.ketch_only(reason=NC_CLOSES)
@pytest.mark.parametrize("line", [b"get", b"gets", b"get ", b"incr k abc", b"decr k -1",
                                  b"incr k 18446744073709551616", b"touch k abc"])
def test_malformed_line_is_client_error(client, tag, line):
    reply = client.call(line)
    assert reply.startswith(b"CLIENT_ERROR "), reply
    assert resync(client) == []
    assert_serves(client, tag)


@pytest.mark.ketch_only(reason=NC_CLOSES)
@pytest.mark.parametrize("line", [b"set k notanumber 0 1", b"set k 0 notanumber 1",
                                  b"set k 0 0 notanumber", b"set k 0 0 -1",
                                  b"cas k 0 0 1 notanumber", b"append k 0 0 1x"])
def test_malformed_storage_line_is_client_error(client, tag, line):
    # a client sends its data block after the line; whether the proxy skips
    # it (when it trusts the length) or reads it as a command (as memcached
    # does) is its choice, but the connection must come back in sync
    client.send(line + b"\r\nx\r\n")
    reply = client.readline()
    assert reply.startswith(b"CLIENT_ERROR "), reply
    extra = resync(client)
    assert extra in ([], [b"ERROR\r\n"]), extra
    assert_serves(client, tag)


def test_key_of_250_bytes_works(client, tag):
    k = (tag + ":").ljust(kt.MAX_KEY_LENGTH, "k")
    assert len(k) == 250
    assert client.set(k, b"long") == STORED
    assert client.get(k) == b"long"
    assert [i.key for i in client.get_multi([tag + ":x", k])] == [k.encode()]
    assert client.call("delete " + k) == b"DELETED\r\n"


@pytest.mark.ketch_only(reason=NC_CLOSES)
@pytest.mark.parametrize("form", ["get", "multiget", "gets", "delete", "incr", "touch"])
def test_key_of_251_bytes_is_client_error(client, tag, form):
    k = (tag + ":").ljust(kt.MAX_KEY_LENGTH + 1, "k")
    line = {
        "get": "get " + k,
        "multiget": "get %s:a %s %s:b" % (tag, k, tag),
        "gets": "gets " + k,
        "delete": "delete " + k,
        "incr": "incr %s 1" % k,
        "touch": "touch %s 10" % k,
    }[form]
    reply = client.call(line)
    assert reply.startswith(b"CLIENT_ERROR "), reply
    assert resync(client) == []
    assert_serves(client, tag)


@pytest.mark.ketch_only(reason=NC_CLOSES)
def test_set_with_key_of_251_bytes_is_client_error(client, tag):
    k = (tag + ":").ljust(kt.MAX_KEY_LENGTH + 1, "k")
    client.send(kt.storage_line("set", k, b"x"))
    reply = client.readline()
    assert reply.startswith(b"CLIENT_ERROR "), reply
    assert resync(client) in ([], [b"ERROR\r\n"])
    assert_serves(client, tag)


# --------------------------------------------------------------------------
# values too large


def _too_large_then_next(c, tag, size, chunked=False):
    """A set of <size> bytes whose data looks like commands, pipelined with a
    normal set and get: the big one is refused and its data skipped."""
    evil = kt.storage_line("set", tag + ":evil", b"x") + b"get " + tag.encode() + b":evil\r\n"
    value = (evil * (size // len(evil) + 1))[:size]
    data = (kt.storage_line("set", tag + ":big", value)
            + kt.storage_line("set", tag + ":next", b"ok")
            + b"get " + tag.encode() + b":next\r\n")
    if chunked:
        rnd = random.Random(size)
        i = 0
        while i < len(data):
            n = rnd.randrange(1, 70000)
            c.send(data[i:i + n])
            i += n
    else:
        c.send(data)
    assert c.readline() == TOO_LARGE
    assert c.readline() == STORED
    assert c.read_values()[0].value == b"ok"
    assert c.get(tag + ":evil") is None, "data of the refused value was run as commands"
    assert c.get(tag + ":big") is None
    assert c.nothing_pending()


def test_value_too_large_for_the_server_is_refused_and_skipped(client, tag):
    # 3 MiB: over both ketch's default max_value_size and memcached's -I 2m,
    # so ketch and nutcracker (which leaves it to memcached) answer the same
    _too_large_then_next(client, tag, 3 * 1048576)


@pytest.mark.ketch_only(reason="nutcracker has no max_value_size; memcached -I 2m stores it")
def test_value_over_default_max_value_size_is_refused(client, tag):
    _too_large_then_next(client, tag, kt.DEFAULT_MAX_VALUE_SIZE + 1)
    _too_large_then_next(client, tag, kt.DEFAULT_MAX_VALUE_SIZE + 1, chunked=True)


@pytest.mark.ketch_only(reason="max_value_size is a ketch pool key")
def test_max_value_size_from_config(cluster, tag):
    mc, = cluster.memcached(1)
    p = cluster.proxy({"small": {"max_value_size": 100, "servers": [kt.server_line(mc, 1, "m")]}})
    with p.conn() as c:
        assert c.set(tag + ":100", b"v" * 100) == STORED
        assert c.get(tag + ":100") == b"v" * 100
        _too_large_then_next(c, tag, 101)
        _too_large_then_next(c, tag, 100000, chunked=True)
    with mc.conn() as d:
        assert d.get(tag + ":big") is None, "a refused value reached the server"


# --------------------------------------------------------------------------
# junk never crashes the proxy


JUNK = [
    random.Random(1).randbytes(65536),
    b"a" * 200000,                                  # one line, no end
    b"\x00" * 5000 + b"\r\n",
    b"\x80\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x05" + b"\x00" * 12 + b"hello",  # binary get
    b"\r\n" * 2000,
    b"get " + b"k" * 100000 + b"\r\n",
    b"set k 0 0 4294967296\r\n",
    b"set k 0 0 99999999999999999999999\r\n",
    b"set k 0 0 -5\r\nxx\r\n",
    b"get k\r\nset k 0 0 100\r\nabc",               # value cut short
    b"get " + b" ".join(b"k%d" % i for i in range(20000)) + b"\r\n",
    b"\r\r\r\n\n\n get\tk\r\n",
    b"incr k " + b"9" * 1000 + b"\r\n",
    b"cas k 0 0 1\r\nx\r\n",
    b"gat\r\ngats 1\r\ngat x k\r\n",
    random.Random(2).randbytes(300) + b"\r\n" + b"get x\r\n",
]


def _drain(c, quiet=0.3, limit=3.0):
    """Read whatever comes back until the peer is quiet or closes."""
    deadline = time.monotonic() + limit
    c.settimeout(quiet)
    try:
        while time.monotonic() < deadline:
            if not c.sock.recv(65536):
                return
    except OSError:
        return


@pytest.mark.parametrize("junk", JUNK, ids=range(len(JUNK)))
def test_junk_never_crashes_and_others_keep_working(own_pool4, tag, junk):
    p = own_pool4
    with p.conn() as bystander:
        assert_serves(bystander, tag)
        with p.conn() as bad:
            try:
                bad.send(junk)
            except OSError:
                pass  # the proxy may close on us mid-send
            _drain(bad)
        assert p.alive(), "proxy died:\n" + kt.tail(p.logpath)
        assert_serves(bystander, tag)
        bystander.send_slowly(kt.storage_line("set", tag + ":slow", b"x"), chunk=3)
        assert bystander.readline() == STORED
    with p.conn() as fresh:
        assert_serves(fresh, tag)


PARTIALS = [b"get", b"get k", b"set k 0 0 10\r\nabc", b"set k 0 0 10", b"set k 0 0 10\r\n",
            b"get " + b" ".join(b"k%d" % i for i in range(500)) + b"\r\n",
            b"get k\r\nset k 0 0 100\r\nabc"]


@pytest.mark.parametrize("partial", PARTIALS, ids=range(len(PARTIALS)))
def test_client_gone_mid_request(own_pool4, tag, partial):
    # the client closes with a request half sent (or its reply unread): the
    # servers' connections must stay in sync for everyone else
    p = own_pool4
    with p.conn(timeout=3) as bystander:
        assert_serves(bystander, tag)
        for _ in range(3):
            c = p.conn()
            c.send(partial)
            time.sleep(0.05)
            c.close()
        time.sleep(0.1)
        assert p.alive(), "proxy died:\n" + kt.tail(p.logpath)
        keys = kt.make_keys(40, tag)  # every server
        bystander.send(b"".join(kt.storage_line("set", k, b"ok") for k in keys))
        assert [bystander.readline() for _ in keys] == [STORED] * len(keys)
        assert {i.key.decode(): i.value for i in bystander.get_multi(keys)} == {
            k: b"ok" for k in keys}


# --------------------------------------------------------------------------
# a server that never answers


@pytest.fixture
def half_dead(cluster):
    """A pool of one real memcached and one fake that accepts and never
    answers, timeout 500 ms; and keys known to land on each."""
    real, = cluster.memcached(1)
    fake = cluster.silent()
    p = cluster.proxy({"halfdead": {
        "timeout": 500,
        "servers": [kt.server_line(real, 1, "real"), kt.server_line(fake, 1, "fake")],
    }})
    keys = kt.make_keys(100, "hd")
    with p.conn() as c:
        c.send(b"".join(kt.storage_line("set", k, b"v") for k in keys))
        replies = [c.readline() for _ in keys]
    on_real = real.present(keys)
    real_keys = [k for k in keys if k.encode() in on_real]
    fake_keys = [k for k in keys if k.encode() not in on_real]
    assert real_keys and fake_keys, "100 keys should land on both servers"
    for k, r in zip(keys, replies):
        if k.encode() in on_real:
            assert r == STORED
        else:
            assert r.startswith(b"SERVER_ERROR"), r
    return p, real_keys, fake_keys


def test_server_that_never_answers_times_out(half_dead):
    p, real_keys, fake_keys = half_dead
    with p.conn(timeout=10) as c:
        t0 = time.monotonic()
        reply = c.call("get " + fake_keys[0])
        elapsed = time.monotonic() - t0
        assert reply.startswith(b"SERVER_ERROR"), reply
        assert elapsed < 5.0, "timeout: 500 answered after %.1f s" % elapsed
        # the same connection keeps serving the other server
        assert c.get(real_keys[0]) == b"v"
        t0 = time.monotonic()
        reply = c.set(fake_keys[1], b"w")
        assert reply.startswith(b"SERVER_ERROR"), reply
        assert time.monotonic() - t0 < 5.0
        assert c.get(real_keys[1]) == b"v"


def test_other_servers_answer_while_one_hangs(half_dead):
    p, real_keys, fake_keys = half_dead
    with p.conn(timeout=10) as stuck, p.conn(timeout=10) as other:
        t0 = time.monotonic()
        stuck.send(b"get " + fake_keys[2].encode() + b"\r\n")
        for k in real_keys[:5]:
            assert other.get(k) == b"v"
        fast = time.monotonic() - t0
        assert fast < 0.45, "keys on the live server waited %.2f s behind the dead one" % fast
        reply = stuck.readline()
        assert reply.startswith(b"SERVER_ERROR"), reply
        assert time.monotonic() - t0 < 5.0


def test_server_that_refuses_connections(cluster):
    real, = cluster.memcached(1)
    dead_port = kt.free_port()  # nothing listens there
    p = cluster.proxy({"refused": {
        "timeout": 500,
        "servers": [kt.server_line(real, 1, "real"), "127.0.0.1:%d:1 dead" % dead_port],
    }})
    keys = kt.make_keys(60, "rf")
    with p.conn(timeout=10) as c:
        t0 = time.monotonic()
        c.send(b"".join(kt.storage_line("set", k, b"v") for k in keys))
        replies = [c.readline() for _ in keys]
        assert time.monotonic() - t0 < 5.0
        on_real = real.present(keys)
        assert 0 < len(on_real) < len(keys)
        for k, r in zip(keys, replies):
            if k.encode() in on_real:
                assert r == STORED
            else:
                assert r.startswith(b"SERVER_ERROR"), r
        k = next(k for k in keys if k.encode() in on_real)
        assert c.get(k) == b"v"

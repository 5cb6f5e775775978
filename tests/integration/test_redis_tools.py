"""Redis's own tools against the proxy: redis-cli with arguments, with
commands on stdin, in a terminal, and in --pipe mode (mass insertion), and a
redis-benchmark run. Every run is bounded by a timeout."""

import os
import pty
import select
import shutil
import subprocess
import time

import pytest

import ketchtest as kt

RUN_TIMEOUT_S = 30
BENCH_TIMEOUT_S = 100  # under the per-test deadline (conftest.py)


def _tool(name):
    path = shutil.which(name) or ("/usr/bin/" + name if os.access("/usr/bin/" + name, os.X_OK)
                                  else None)
    if path is None:
        pytest.skip("%s not found (Debian: apt-get install redis-tools)" % name)
    return path


@pytest.fixture(scope="module")
def proxy(module_redis_cluster, redis4):
    return module_redis_cluster.proxy(kt.redis_pool_config(redis4))


def cli(proxy, *args, stdin=None, timeout=RUN_TIMEOUT_S):
    argv = [_tool("redis-cli"), "-h", "127.0.0.1", "-p", str(proxy.port)] + list(args)
    return subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout)


def test_redis_cli_with_arguments(proxy, redis4, tag):
    k = tag + ":a"
    r = cli(proxy, "SET", k, "1")
    assert (r.returncode, r.stdout, r.stderr) == (0, b"OK\n", b"")
    r = cli(proxy, "GET", k)
    assert (r.returncode, r.stdout) == (0, b"1\n")
    r = cli(proxy, "INCRBY", k, "41")
    assert (r.returncode, r.stdout) == (0, b"42\n")
    keys = kt.make_keys(20, tag)
    r = cli(proxy, "MSET", *[x for k2 in keys for x in (k2, "v")])
    assert (r.returncode, r.stdout) == (0, b"OK\n")
    r = cli(proxy, "MGET", keys[0], tag + ":none", keys[1])
    assert (r.returncode, r.stdout) == (0, b"v\n\nv\n")
    r = cli(proxy, "DEL", *keys)
    assert (r.returncode, r.stdout) == (0, b"20\n")
    r = cli(proxy, "GET", k, "extra")
    assert b"ERR" in r.stdout + r.stderr or r.returncode != 0


def test_redis_cli_commands_on_stdin(proxy, tag):
    k = tag + ":stdin"
    script = "SET %s 1\nGET %s\nINCR %s\nRPUSH %s:l a b c\nLRANGE %s:l 0 -1\nGET %s:none\n" % (
        k, k, k, k, k, k)
    r = cli(proxy, stdin=script.encode())
    assert r.returncode == 0, r
    assert r.stdout == b"OK\n1\n2\n3\na\nb\nc\n\n", r.stdout


def test_redis_cli_shell_pipe(proxy, tag):
    k = tag + ":printf"
    cmd = "printf 'SET %s 1\\nGET %s\\n' | %s -h 127.0.0.1 -p %d" % (
        k, k, _tool("redis-cli"), proxy.port)
    r = subprocess.run(cmd, shell=True, capture_output=True, timeout=RUN_TIMEOUT_S)
    assert (r.returncode, r.stdout) == (0, b"OK\n1\n"), r


def _read_until(fd, needle, buf, timeout=RUN_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no %r from redis-cli in %d s; got %r" % (needle, timeout, buf))
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                data = b""
            if not data:
                raise AssertionError("redis-cli ended before %r; got %r" % (needle, buf))
            buf += data
    return buf[buf.index(needle) + len(needle):]


def test_redis_cli_interactive_in_a_terminal(proxy, tag):
    """A real terminal session: redis-cli asks for COMMAND DOCS at start (for
    its hints) and prints replies in its formatted style."""
    k = tag + ":tty"
    argv = [_tool("redis-cli"), "-h", "127.0.0.1", "-p", str(proxy.port)]
    pid, fd = pty.fork()
    if pid == 0:  # child: the terminal is stdin/stdout/stderr
        os.environ["TERM"] = "dumb"
        os.environ["REDISCLI_HISTFILE"] = "/dev/null"
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    try:
        buf = _read_until(fd, b"> ", b"")
        os.write(fd, ("SET %s hello\r" % k).encode())
        buf = _read_until(fd, b"OK", buf)
        os.write(fd, ("GET %s\r" % k).encode())
        buf = _read_until(fd, b'"hello"', buf)
        os.write(fd, ("STRLEN %s\r" % k).encode())
        buf = _read_until(fd, b"(integer) 5", buf)
        os.write(fd, b"quit\r")
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
                pid = 0
                break
            time.sleep(0.05)
        assert pid == 0, "redis-cli did not exit after quit"
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)


@pytest.mark.ketch_only(reason="redis-cli --pipe ends with an ECHO, which nutcracker does "
                        "not support (it closes the connection)")
def test_redis_cli_pipe_mode_with_10000_commands(proxy, redis4, tag):
    keys = kt.make_keys(5000, tag)
    data = b"".join(kt.resp_command("SET", k, "v%d" % i) for i, k in enumerate(keys))
    data += b"".join(kt.resp_command("INCR", k + ":n") for k in keys)
    r = cli(proxy, "--pipe", stdin=data, timeout=60)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    assert r.returncode == 0, out
    assert "errors: 0, replies: 10000" in out, out
    with proxy.resp() as c:
        assert c.call("MGET", *keys[::500]) == [b"v%d" % i for i in range(0, 5000, 500)]
        assert c.call("GET", keys[-1] + ":n") == b"1"
    where = set()
    for r in redis4:
        if r.present(keys[:200]):
            where.add(r.name)
    assert len(where) == len(redis4), "the keys should spread over every server"


def test_redis_benchmark(proxy):
    argv = [_tool("redis-benchmark"), "-h", "127.0.0.1", "-p", str(proxy.port),
            "-n", "20000", "-c", "20", "-q",
            "-t", "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,lrange,mset"]
    # it sends CONFIG GET first, and goes on with a warning when refused
    r = subprocess.run(argv, capture_output=True, timeout=BENCH_TIMEOUT_S)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    assert r.returncode == 0, out[-3000:]
    assert "ERR" not in out, out[-3000:]
    assert "Error" not in out, out[-3000:]
    # progress lines end in \r, each test's summary in \n: splitlines splits on both
    tests = [line.split(":")[0] for line in out.splitlines() if "requests per second" in line]
    for name in ("SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "HSET", "SPOP",
                 "LPUSH (needed to benchmark LRANGE)", "LRANGE_100 (first 100 elements)",
                 "LRANGE_600 (first 600 elements)", "MSET (10 keys)"):
        assert name in tests, (name, tests)
    assert proxy.alive()

"""The command line, nutcracker's flags: -t tests a config (errors carry
file:line:column), -V prints the version, -h the usage, -d/-p daemonize with
a pid file; a bad config never leaves a half-started proxy behind."""

import os
import re
import signal
import subprocess

import pytest

import ketchtest as kt

RUN_TIMEOUT_S = 10

GOOD = """\
# a comment
web:
  listen: 127.0.0.1:{port}
  hash: fnv1a_64
  hash_tag: "{{}}"
  distribution: ketama
  timeout: 400
  backlog: 1024
  preconnect: false
  auto_eject_hosts: true
  server_retry_timeout: 2000
  server_failure_limit: 3
  server_connections: 1
  tcpkeepalive: true
  client_connections: 100
  servers:
   - 127.0.0.1:{p1}:1 mc1
   - 127.0.0.1:{p2}:2 mc2

plain:
  listen: 127.0.0.1:{port2}
  distribution: modula
  servers:
   - 127.0.0.1:{p1}:1
"""

# name -> (config, line of the error, 1-based)
HEAD = "a:\n  listen: 127.0.0.1:1\n"
SERVER = "  servers:\n   - 127.0.0.1:2:1\n"
BAD = {
    "unknown-hash": (HEAD + "  hash: nope\n" + SERVER, 3),
    "unknown-distribution": (HEAD + "  distribution: nope\n" + SERVER, 3),
    "unknown-key": (HEAD + "  hashh: md5\n" + SERVER, 3),
    "bad-timeout": (HEAD + "  timeout: abc\n" + SERVER, 3),
    "bad-bool": (HEAD + "  preconnect: maybe\n" + SERVER, 3),
    "bad-hash-tag": (HEAD + '  hash_tag: "{"\n' + SERVER, 3),
    "bad-weight": ("a:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:2:abc\n", 4),
    "zero-weight": ("a:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:2:0\n", 4),
    "bad-port": ("a:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:99999:1\n", 4),
    "bad-listen": ("a:\n  listen: 127.0.0.1:abc\n  servers:\n   - 127.0.0.1:2:1\n", 2),
    "duplicate-name": ("a:\n  listen: 127.0.0.1:1\n  servers:\n   - 127.0.0.1:2:1 x\n"
                       "   - 127.0.0.1:3:1 x\n", None),
    "duplicate-key": ("a:\n  listen: 127.0.0.1:1\n  hash: md5\n  hash: md5\n  servers:\n"
                      "   - 127.0.0.1:2:1\n", None),
    "no-servers": ("a:\n  listen: 127.0.0.1:1\n", None),
    "yaml-syntax": ("a:\n  listen: 127.0.0.1:1\n  servers: [\n", None),
}


def run(argv, timeout=RUN_TIMEOUT_S):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace")


def write(tmp_path, text, name="conf.yml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def good_config(tmp_path):
    return write(tmp_path, GOOD.format(port=kt.free_port(), port2=kt.free_port(),
                                       p1=kt.free_port(), p2=kt.free_port()))


def test_version(proxy_bin):
    rc, out = run([proxy_bin, "-V"])
    assert rc == 0, out
    assert re.search(r"\d+\.\d+\.\d+", out), out


def test_help(proxy_bin):
    rc, out = run([proxy_bin, "-h"])
    assert rc == 0, out
    assert "usage" in out.lower(), out
    for flag in ("-c", "-s", "-a", "-o", "-v", "-p", "-d", "-t", "-V", "-h", "-i", "-m"):
        assert re.search(r"(^|\W)%s\b" % re.escape(flag), out), "usage lacks %s:\n%s" % (flag, out)


@pytest.mark.ketch_only(reason="-T (threads) is a ketch flag")
def test_help_lists_threads(proxy_bin):
    rc, out = run([proxy_bin, "-h"])
    assert re.search(r"(^|\W)-T\b", out), out


def test_unknown_option_fails(proxy_bin):
    rc, out = run([proxy_bin, "--no-such-option"])
    assert rc != 0


def test_test_conf_good(proxy_bin, tmp_path):
    rc, out = run([proxy_bin, "-t", "-c", good_config(tmp_path)])
    assert rc == 0, out


@pytest.mark.parametrize("name", sorted(BAD))
def test_test_conf_bad_fails(proxy_bin, tmp_path, name):
    rc, out = run([proxy_bin, "-t", "-c", write(tmp_path, BAD[name][0])])
    assert rc != 0, "accepted %s:\n%s" % (name, out)


def test_test_conf_missing_file_fails(proxy_bin, tmp_path):
    rc, out = run([proxy_bin, "-t", "-c", str(tmp_path / "nonexistent.yml")])
    assert rc != 0


def _locations(out, path):
    """(line, column) pairs printed as <path>:<line>:<column> (full path or
    base name)."""
    pat = r"(?:%s|%s):(\d+):(\d+)" % (re.escape(path), re.escape(os.path.basename(path)))
    return [(int(a), int(b)) for a, b in re.findall(pat, out)]


@pytest.mark.ketch_only(reason="nutcracker prints no location")
@pytest.mark.parametrize("name", sorted(BAD))
def test_test_conf_errors_carry_file_line_column(proxy_bin, tmp_path, name):
    text, line = BAD[name]
    path = write(tmp_path, text)
    rc, out = run([proxy_bin, "-t", "-c", path])
    assert rc != 0
    locs = _locations(out, path)
    assert locs, "no file:line:column in:\n" + out
    assert all(ln >= 1 and col >= 1 for ln, col in locs), locs
    if line is not None:
        assert line in [ln for ln, _ in locs], "error not reported at line %d:\n%s" % (line, out)


@pytest.mark.ketch_only(reason="nutcracker prints no location")
def test_test_conf_reports_every_error(proxy_bin, tmp_path):
    path = write(tmp_path, (
        "a:\n"                          # 1
        "  listen: 127.0.0.1:1\n"       # 2
        "  hash: nope\n"                # 3
        "  distribution: nope\n"        # 4
        "  servers:\n"                  # 5
        "   - 127.0.0.1:2:abc\n"        # 6
        "b:\n"                          # 7
        "  listen: 127.0.0.1:3\n"       # 8
        "  timeout: soon\n"             # 9
        "  servers:\n"                  # 10
        "   - 127.0.0.1:4:1\n"))        # 11
    rc, out = run([proxy_bin, "-t", "-c", path])
    assert rc != 0
    lines = {ln for ln, _ in _locations(out, path)}
    assert {3, 4, 6, 9} <= lines, "expected errors at lines 3, 4, 6, 9:\n" + out


def test_bad_config_without_t_exits(proxy_bin, tmp_path):
    rc, out = run([proxy_bin, "-c", write(tmp_path, BAD["unknown-hash"][0]),
                   "-s", str(kt.free_port()), "-a", "127.0.0.1", "-o", str(tmp_path / "log")])
    assert rc != 0


def test_sigterm_stops_the_proxy(cluster):
    mc, = cluster.memcached(1)
    p = cluster.proxy({"a": {"servers": [kt.server_line(mc)]}})
    with p.conn() as c:
        assert c.set("k", b"v") == b"STORED\r\n"
    p.proc.send_signal(signal.SIGTERM)
    try:
        p.proc.wait(5)
    except subprocess.TimeoutExpired:
        pytest.fail("proxy still running 5 s after SIGTERM")


def test_daemonize_writes_pid_file(proxy_bin, cluster, tmp_path):
    mc, = cluster.memcached(1)
    port = kt.free_port()
    conf = write(tmp_path, "d:\n  listen: 127.0.0.1:%d\n  servers:\n   - %s\n" % (
        port, kt.server_line(mc)), "daemon.yml")
    pidfile = tmp_path / "proxy.pid"
    argv = [proxy_bin, "-d", "-p", str(pidfile), "-c", conf, "-o", str(tmp_path / "daemon.log"),
            "-s", str(kt.free_port()), "-a", "127.0.0.1"]
    if not kt.against_nutcracker():
        argv += ["-T", "2"]
    pid = None
    try:
        rc, out = run(argv)
        assert rc == 0, out
        assert kt.wait_until(lambda: pidfile.exists() and pidfile.read_text().strip(), 5), \
            "no pid file"
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)  # alive
        assert kt.wait_port(port), kt.tail(str(tmp_path / "daemon.log"))
        with kt.McConn(port) as c:
            assert c.set("k", b"v") == b"STORED\r\n"
    finally:
        if pid is None and pidfile.exists() and pidfile.read_text().strip().isdigit():
            pid = int(pidfile.read_text().strip())
        if pid is not None:
            kt.kill_pid(pid)
    assert kt.wait_until(lambda: not kt.port_accepts(port), 5)

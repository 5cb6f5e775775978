"""Helpers for ketch's integration tests: ports, real servers, the proxy, a
fake backend, a small memcached text-protocol client and a RESP2 client.

Everything here is bounded in time: sockets carry timeouts, waits carry
deadlines, and every process started is registered so that it is stopped at
teardown (and, as a last resort, at interpreter exit) even when a test fails.

Environment:
  KETCH_BIN                      proxy binary under test (default: $KETCH_BUILDDIR/ketch)
  KETCH_TEST_AGAINST_NUTCRACKER  "1": the binary is nutcracker; ketch-only tests are skipped
  KETCH_TEST_VERBOSE             proxy log level (-v), default 6
  NUTCRACKER_BIN                 nutcracker for the drop-in tests (default: found on PATH)
  MEMCACHED_BIN                  memcached (default: found on PATH)
  REDIS_SERVER_BIN               redis-server (default: found on PATH)
  JAVA_BIN                       java for ZooKeeper (default: found on PATH)
  ZOOKEEPER_CLASSPATH            ZooKeeper's classpath (default: Debian's jars, see ZooKeeper)
"""

import atexit
import hashlib
import heapq
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time

# memcached's key length limit (protocol.txt "Keys").
MAX_KEY_LENGTH = 250
# ketch's default pool max_value_size.
DEFAULT_MAX_VALUE_SIZE = 1048576
# Generous bounds: a healthy proxy answers in milliseconds; these only stop a
# broken one from hanging the suite.
IO_TIMEOUT_S = 10.0
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0

NC_SERVER_FIELDS = frozenset([
    "server_eof", "server_err", "server_timedout", "server_connections",
    "server_ejected_at", "requests", "request_bytes", "responses",
    "response_bytes", "in_queue", "in_queue_bytes", "out_queue",
    "out_queue_bytes",
])
NC_POOL_FIELDS = frozenset([
    "client_eof", "client_err", "client_connections", "server_ejects",
    "forward_error", "fragments",
])
# ketch's own, after nutcracker's: failure handling (TKO, probes, gutter)
KETCH_SERVER_FIELDS = frozenset(["probes", "probe_failures", "server_tko"])
KETCH_POOL_FIELDS = frozenset([
    "server_tkos", "gutter_requests", "tko_fail_fast", "fail_open", "server_tko",
])
TOP_FIELDS = frozenset([
    "service", "source", "version", "uptime", "timestamp",
    "total_connections", "curr_connections",
])


# --------------------------------------------------------------------------
# environment


def against_nutcracker():
    """True when the binary under test is nutcracker itself."""
    if os.environ.get("KETCH_TEST_AGAINST_NUTCRACKER", "") not in ("", "0"):
        return True
    return os.path.basename(proxy_bin() or "").startswith("nutcracker")


def _stats_fields():
    if against_nutcracker():
        return NC_SERVER_FIELDS, NC_POOL_FIELDS
    return NC_SERVER_FIELDS | KETCH_SERVER_FIELDS, NC_POOL_FIELDS | KETCH_POOL_FIELDS


def proxy_bin():
    """Path of the proxy under test, or None."""
    path = os.environ.get("KETCH_BIN")
    if not path:
        builddir = os.environ.get("KETCH_BUILDDIR")
        if not builddir:
            return None
        path = os.path.join(builddir, "ketch")
    return path


# the stats fields the proxy under test shows
SERVER_FIELDS, POOL_FIELDS = _stats_fields()


def nutcracker_bin():
    return os.environ.get("NUTCRACKER_BIN") or shutil.which("nutcracker") or (
        "/usr/sbin/nutcracker" if os.access("/usr/sbin/nutcracker", os.X_OK) else None)


def memcached_bin():
    return os.environ.get("MEMCACHED_BIN") or shutil.which("memcached") or (
        "/usr/bin/memcached" if os.access("/usr/bin/memcached", os.X_OK) else None)


def is_nutcracker(binary):
    """Whether <binary> is nutcracker (it rejects ketch-only flags and keys)."""
    if os.path.realpath(binary) == os.path.realpath(nutcracker_bin() or "/nonexistent"):
        return True
    if binary == proxy_bin():
        return against_nutcracker()
    return os.path.basename(binary).startswith("nutcracker")


# --------------------------------------------------------------------------
# ports


def free_port():
    """A loopback TCP port that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(port, proc=None, timeout=START_TIMEOUT_S):
    """Wait until <port> accepts a connection. Returns False if <proc> exits
    first or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        if port_accepts(port):
            return True
        time.sleep(0.02)
    return False


# --------------------------------------------------------------------------
# processes

_live = set()
_live_lock = threading.Lock()


def _stop_popen(p, sig=signal.SIGTERM):
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(STOP_TIMEOUT_S)
        except ProcessLookupError:
            pass
    with _live_lock:
        _live.discard(p)


def _pdeathsig_setter():
    """Linux: a child started with this gets SIGKILL when the test process
    dies, so even a killed test run leaks no servers."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError, ImportError):
        return None
    PR_SET_PDEATHSIG = 1

    def setter():
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    return setter


_PDEATHSIG = _pdeathsig_setter() if os.uname().sysname == "Linux" else None


def spawn(argv, logpath, pdeathsig=True):
    """Start <argv> with stdout+stderr into <logpath>; registered for cleanup."""
    with open(logpath, "ab") as log:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, close_fds=True,
                             preexec_fn=_PDEATHSIG if pdeathsig else None)
    with _live_lock:
        _live.add(p)
    return p


def kill_pid(pid):
    """Stop a process that is not our child (a daemonized proxy)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@atexit.register
def _stop_all():
    with _live_lock:
        procs = list(_live)
    for p in procs:
        _stop_popen(p)


def tail(path, nbytes=4000):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - nbytes))
            return f.read().decode("utf-8", "replace")
    except OSError as e:
        return "(no log: %s)" % e


class _ServerProcess:
    """A real server process on a loopback port: start() on a free port
    chosen at run time, start_on() on a given one (a restart where a killed
    instance listened). Subclasses spawn it in _launch(port)."""

    PROGRAM = None

    def start(self):
        for _ in range(5):
            if self._launch(free_port()):
                return self
        raise RuntimeError("%s did not start: %s" % (self.PROGRAM, tail(self.logpath)))

    def start_on(self, port):
        if not self._launch(port):
            raise RuntimeError("%s did not start on port %d: %s" % (
                self.PROGRAM, port, tail(self.logpath)))
        return self


class Memcached(_ServerProcess):
    """A real memcached on a loopback port chosen at run time."""

    PROGRAM = "memcached"

    def __init__(self, workdir, name="mc", extra_args=("-I", "2m")):
        self.workdir = str(workdir)
        self.name = name
        self.extra_args = list(extra_args)
        self.port = None
        self.proc = None
        self.logpath = os.path.join(self.workdir, "%s.log" % name)

    def _launch(self, port):
        """Spawn on <port>; True once it accepts connections."""
        binary = memcached_bin()
        if binary is None:
            raise RuntimeError("memcached not found")
        self.port = port
        argv = [binary, "-l", "127.0.0.1", "-p", str(self.port), "-U", "0",
                "-t", "2", "-m", "64"] + self.extra_args
        if os.geteuid() == 0:
            argv += ["-u", "root"]
        self.proc = spawn(argv, self.logpath)
        if wait_port(self.port, self.proc):
            return True
        _stop_popen(self.proc)
        return False


    def stop(self):
        # memcached takes up to a second to exit on SIGTERM; it holds
        # nothing worth a clean shutdown here
        if self.proc is not None:
            _stop_popen(self.proc, signal.SIGKILL)

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def conn(self):
        return McConn(self.port)

    def flush_all(self):
        with self.conn() as c:
            assert c.call(b"flush_all") == b"OK\r\n"

    def present(self, keys, batch=100):
        """The subset of <keys> (str or bytes) this server holds."""
        keys = [k.encode() if isinstance(k, str) else k for k in keys]
        found = set()
        with self.conn() as c:
            for i in range(0, len(keys), batch):
                for item in c.get_multi(keys[i:i + batch]):
                    found.add(item.key)
        return found


def redis_bin():
    return os.environ.get("REDIS_SERVER_BIN") or shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None)


class RedisServer(_ServerProcess):
    """A real redis-server on a loopback port chosen at run time, no
    persistence, its files in <workdir>. With <requirepass> every client
    (the proxy included) must AUTH first."""

    PROGRAM = "redis-server"

    def __init__(self, workdir, name="redis", requirepass=None, extra_args=()):
        self.workdir = str(workdir)
        self.name = name
        self.requirepass = requirepass
        self.extra_args = list(extra_args)
        self.port = None
        self.proc = None
        self.logpath = os.path.join(self.workdir, "%s.log" % name)

    def _launch(self, port):
        """Spawn on <port>; True once it accepts connections."""
        binary = redis_bin()
        if binary is None:
            raise RuntimeError("redis-server not found")
        self.port = port
        argv = [binary, "--bind", "127.0.0.1", "--port", str(self.port),
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--dir", self.workdir, "--dbfilename", "%s.rdb" % self.name,
                "--protected-mode", "no"]
        if self.requirepass is not None:
            argv += ["--requirepass", self.requirepass]
        self.proc = spawn(argv + self.extra_args, self.logpath)
        if wait_port(self.port, self.proc):
            return True
        _stop_popen(self.proc)
        return False


    def stop(self):
        if self.proc is not None:
            _stop_popen(self.proc, signal.SIGKILL)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def conn(self, db=0, timeout=IO_TIMEOUT_S):
        """A RespConn straight to this server (authenticated, <db> selected)."""
        c = RespConn(self.port, timeout=timeout)
        if self.requirepass is not None:
            assert c.call("AUTH", self.requirepass) == b"OK"
        if db:
            assert c.call("SELECT", str(db)) == b"OK"
        return c

    def flushall(self):
        with self.conn() as c:
            assert c.call("FLUSHALL") == b"OK"

    def present(self, keys, db=0, batch=500):
        """The subset of <keys> (str or bytes, as bytes) this server holds."""
        keys = [k.encode() if isinstance(k, str) else k for k in keys]
        found = set()
        with self.conn(db) as c:
            for i in range(0, len(keys), batch):
                chunk = keys[i:i + batch]
                for k, n in zip(chunk, c.pipeline([("EXISTS", k) for k in chunk])):
                    if n == 1:
                        found.add(k)
                    elif n != 0:
                        raise ProtocolError("EXISTS %r answered %r" % (k, n))
        return found


# Debian's zookeeper.jar names its dependencies in its manifest's Class-Path
# (jute, netty, jetty, slf4j-api, metrics, snappy, jline, ...); slf4j's log4j
# 1.2 binding and log4j itself are not among them, and without them the
# server logs nothing. Packages: zookeeper, libslf4j-java, liblog4j1.2-java.
JAVA_DIR = "/usr/share/java"
ZOOKEEPER_JARS = ("zookeeper.jar", "slf4j-log4j12.jar", "log4j-1.2.jar")
# a JVM and ZooKeeper need a few seconds; a slow CI machine more
ZK_START_TIMEOUT_S = 30.0
# short ticks: sessions as short as 2 ticks (1 s), so tests of expiry and
# leader takeover are quick
ZK_TICK_MS = 500


def java_bin():
    return os.environ.get("JAVA_BIN") or shutil.which("java") or (
        "/usr/bin/java" if os.access("/usr/bin/java", os.X_OK) else None)


def zookeeper_classpath():
    """ZooKeeper's classpath; RuntimeError naming what is missing."""
    if os.environ.get("ZOOKEEPER_CLASSPATH"):
        return os.environ["ZOOKEEPER_CLASSPATH"]
    jars = [os.path.join(JAVA_DIR, j) for j in ZOOKEEPER_JARS]
    missing = [j for j in jars if not os.path.exists(j)]
    if missing:
        raise RuntimeError("ZooKeeper jars missing: %s (Debian: apt-get install zookeeper)"
                           % " ".join(missing))
    return ":".join(jars)


def four_letter(port, word, timeout=2.0):
    """ZooKeeper's answer to a four-letter command, b"" when it gives none."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                data = s.recv(65536)
                if not data:
                    return b"".join(chunks)
                chunks.append(data)
    except OSError:
        return b""


class ZooKeeper(_ServerProcess):
    """A real standalone ZooKeeper (Debian's jars, run by java directly) on
    a loopback port chosen at run time, its data and log in <workdir>. The
    data survives stop() and kill(): start_on(port) restarts it where it was.
    client() needs kazoo (Debian: python3-kazoo)."""

    PROGRAM = "zookeeper"

    def __init__(self, workdir, name="zk"):
        self.workdir = str(workdir)
        self.name = name
        self.port = None
        self.proc = None
        self.datadir = os.path.join(self.workdir, "%s-data" % name)
        self.confpath = os.path.join(self.workdir, "%s.cfg" % name)
        self.log4jpath = os.path.join(self.workdir, "%s-log4j.properties" % name)
        self.logpath = os.path.join(self.workdir, "%s.log" % name)

    def _write_config(self):
        os.makedirs(self.datadir, exist_ok=True)
        with open(self.confpath, "w") as f:
            f.write("tickTime=%d\n" % ZK_TICK_MS
                    + "dataDir=%s\n" % self.datadir
                    + "clientPort=%d\n" % self.port
                    + "clientPortAddress=127.0.0.1\n"
                    + "maxSessionTimeout=60000\n"
                    + "admin.enableServer=false\n"
                    + "4lw.commands.whitelist=*\n")
        # log4j to stdout, which spawn() sends to the log file
        with open(self.log4jpath, "w") as f:
            f.write("log4j.rootLogger=INFO, OUT\n"
                    "log4j.appender.OUT=org.apache.log4j.ConsoleAppender\n"
                    "log4j.appender.OUT.layout=org.apache.log4j.PatternLayout\n"
                    "log4j.appender.OUT.layout.ConversionPattern="
                    "%d{ISO8601} %-5p [%t:%C{1}@%L] - %m%n\n")

    def argv(self):
        java = java_bin()
        if java is None:
            raise RuntimeError("java not found (Debian: apt-get install default-jre-headless)")
        # a small heap and the quick JIT tier: a test server starts faster
        return [java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dlog4j.configuration=file:" + self.log4jpath,
                "-Dzookeeper.jmx.log4j.disable=true",
                "-cp", zookeeper_classpath(),
                "org.apache.zookeeper.server.ZooKeeperServerMain", self.confpath]

    def _launch(self, port):
        """Spawn on <port>; True once it answers ruok."""
        self.port = port
        argv = self.argv()
        self._write_config()
        self.proc = spawn(argv, self.logpath)
        if self.wait_ready():
            return True
        _stop_popen(self.proc, signal.SIGKILL)
        return False

    def wait_ready(self, timeout=ZK_START_TIMEOUT_S):
        """True once the server answers imok; False if it exits first or
        the deadline passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if four_letter(self.port, "ruok") == b"imok":
                return True
            time.sleep(0.1)
        return False

    def stop(self):
        if self.proc is not None:
            _stop_popen(self.proc)

    def kill(self):
        if self.proc is not None:
            _stop_popen(self.proc, signal.SIGKILL)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def hosts(self):
        return "127.0.0.1:%d" % self.port

    def client(self, session_timeout=10.0, **kw):
        """A started KazooClient; the caller stops and closes it."""
        from kazoo.client import KazooClient
        c = KazooClient(hosts=self.hosts, timeout=session_timeout, **kw)
        c.start(timeout=IO_TIMEOUT_S)
        return c

    def expire_session(self, session_id, password):
        """End a session as a long partition would: attach a second client
        to it and close that; the server expires the session for all."""
        other = self.client(client_id=(session_id, password))
        other.stop()
        other.close()

    def expire(self, client, timeout=IO_TIMEOUT_S):
        """Expire a KazooClient's session; True once the client saw it."""
        from kazoo.client import KazooState
        lost = threading.Event()

        def on_state(state):
            if state == KazooState.LOST:
                lost.set()
                return True  # kazoo: remove this listener
            return False
        client.add_listener(on_state)
        self.expire_session(*client.client_id)
        return lost.wait(timeout)


class _FakeServer:
    """A listening socket on a free loopback port served by a thread
    (self._run, until self._stop is set): the base of the fake backends."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.setblocking(False)
        self.port = self.lsock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        raise NotImplementedError

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(STOP_TIMEOUT_S)
        self.lsock.close()


class SilentServer(_FakeServer):
    """A fake backend that accepts connections, reads and discards whatever
    arrives, and never answers: the fault a real server cannot produce."""

    def __init__(self):
        super().__init__()
        self.bytes_in = 0

    def _run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.lsock, selectors.EVENT_READ)
        conns = []
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.05):
                    if key.fileobj is self.lsock:
                        try:
                            c, _ = self.lsock.accept()
                        except OSError:
                            continue
                        c.setblocking(False)
                        conns.append(c)
                        self.accepted += 1
                        sel.register(c, selectors.EVENT_READ)
                    else:
                        try:
                            data = key.fileobj.recv(65536)
                        except OSError:
                            data = b""
                        if data:
                            self.bytes_in += len(data)
                        else:
                            sel.unregister(key.fileobj)
                            key.fileobj.close()
                            conns.remove(key.fileobj)
        finally:
            for c in conns:
                c.close()
            sel.close()

class ScriptedServer(_FakeServer):
    """A fake backend that answers by script, for the faults a real server
    cannot produce on demand: half a reply and then silence, a reply that
    comes after the proxy gave up on it.

    Requests are framed as <protocol> frames them ("memcache": a command
    line, plus the data block of a storage command; "redis": an array of
    bulk strings, or an inline command line). self.script(args) gets one
    request as a list of bytes (the words of the command line, a storage
    command's data block appended; a Redis command's arguments) and returns
    what to send back:
      bytes                     sent at once (b"" or None: nothing)
      [(delay_s, bytes), ...]   each chunk <delay_s> after the request
      [..., STALL]              the chunks before STALL, then this connection
                                answers nothing more, whatever arrives
    Replies on one connection go out in the order of their requests (a
    chunk never overtakes an earlier one). self.script may be replaced while
    the server runs. self.requests lists every request seen, self.accepted
    counts connections, pending() the chunks not sent yet."""

    STALL = object()

    def __init__(self, script, protocol="memcache"):
        if protocol not in ("memcache", "redis"):
            raise ValueError("protocol %r" % protocol)
        super().__init__()
        self.script = script
        self.protocol = protocol
        self.requests = []
        self.sent_chunks = 0
        self._lock = threading.Lock()
        self._sends = []  # heap of (due, seq, conn, bytes)
        self._seq = 0

    def pending(self):
        with self._lock:
            return len(self._sends)

    # framing: (request args, bytes used) or None while incomplete

    _STORAGE = (b"set", b"add", b"replace", b"append", b"prepend", b"cas")

    @classmethod
    def _frame_memcache(cls, buf):
        i = buf.find(b"\r\n")
        if i < 0:
            return None
        words = bytes(buf[:i]).split()
        used = i + 2
        if words and words[0].lower() in cls._STORAGE and len(words) >= 5:
            try:
                nbytes = int(words[4])
            except ValueError:
                return words, used
            if len(buf) < used + nbytes + 2:
                return None
            return words + [bytes(buf[used:used + nbytes])], used + nbytes + 2
        return words, used

    @staticmethod
    def _frame_redis(buf):
        if not buf.startswith(b"*"):
            i = buf.find(b"\r\n")
            return None if i < 0 else (bytes(buf[:i]).split(), i + 2)
        i = buf.find(b"\r\n")
        if i < 0:
            return None
        n, pos, args = int(buf[1:i]), i + 2, []
        for _ in range(n):
            j = buf.find(b"\r\n", pos)
            if j < 0:
                return None
            size = int(buf[pos + 1:j])
            if len(buf) < j + 2 + size + 2:
                return None
            args.append(bytes(buf[j + 2:j + 2 + size]))
            pos = j + 2 + size + 2
        return args, pos

    def _answer(self, conn, state, args):
        self.requests.append(args)
        reply = self.script(args)
        if not reply:
            return
        if isinstance(reply, (bytes, bytearray)):
            reply = [(0.0, bytes(reply))]
        now = time.monotonic()
        with self._lock:
            for chunk in reply:
                if chunk is self.STALL:
                    state["stalled"] = True
                    break
                delay, data = chunk
                due = max(now + delay, state["last_due"])
                state["last_due"] = due
                self._seq += 1
                heapq.heappush(self._sends, (due, self._seq, conn, data))

    def _flush_due(self):
        now = time.monotonic()
        while True:
            with self._lock:
                if not self._sends or self._sends[0][0] > now:
                    return
                _, _, conn, data = heapq.heappop(self._sends)
            try:
                conn.setblocking(True)
                conn.settimeout(1.0)
                conn.sendall(data)
                self.sent_chunks += 1
            except OSError:
                pass  # the proxy closed it; a late chunk has no reader
            finally:
                try:
                    conn.setblocking(False)
                except OSError:
                    pass

    def _run(self):
        frame = self._frame_memcache if self.protocol == "memcache" else self._frame_redis
        sel = selectors.DefaultSelector()
        sel.register(self.lsock, selectors.EVENT_READ)
        states = {}
        try:
            while not self._stop.is_set():
                with self._lock:
                    wait = 0.05
                    if self._sends:
                        wait = min(wait, max(0.0, self._sends[0][0] - time.monotonic()))
                for key, _ in sel.select(timeout=wait):
                    if key.fileobj is self.lsock:
                        try:
                            c, _ = self.lsock.accept()
                        except OSError:
                            continue
                        c.setblocking(False)
                        states[c] = {"buf": bytearray(), "stalled": False, "last_due": 0.0}
                        self.accepted += 1
                        sel.register(c, selectors.EVENT_READ)
                        continue
                    conn = key.fileobj
                    state = states[conn]
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        sel.unregister(conn)
                        conn.close()
                        del states[conn]
                        continue
                    if state["stalled"]:
                        continue
                    state["buf"] += data
                    while not state["stalled"]:
                        got = frame(state["buf"])
                        if got is None:
                            break
                        args, used = got
                        del state["buf"][:used]
                        if args:
                            self._answer(conn, state, args)
                self._flush_due()
        finally:
            for c in states:
                c.close()
            sel.close()

# --------------------------------------------------------------------------
# the proxy


def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    if (s == "" or s != s.strip() or s[0] in "{}[],&*!|>'\"%@`#-?:"
            or ": " in s or " #" in s or s.endswith(":")):
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return s


def _yaml_lines(mapping, indent):
    pad = " " * indent
    lines = []
    for key, value in mapping.items():
        if value is None:
            continue
        if isinstance(value, dict):
            lines.append("%s%s:" % (pad, key))
            lines += _yaml_lines(value, indent + 2)
        elif isinstance(value, (list, tuple)):
            lines.append("%s%s:" % (pad, key))
            for item in value:
                if isinstance(item, dict):
                    sub = _yaml_lines(item, indent + 3)
                    sub[0] = pad + " - " + sub[0].lstrip()
                    lines += sub
                else:
                    # "   - 127.0.0.1:11211:1 name", as in nutcracker's examples
                    lines.append("%s - %s" % (pad, _yaml_scalar(item)))
        else:
            lines.append("%s%s: %s" % (pad, key, _yaml_scalar(value)))
    return lines


def yaml_config(pools):
    """nutcracker YAML for {pool name: {key: scalar | list | dict}}, key order
    kept; None values are left out."""
    return "\n".join(_yaml_lines(pools, 0)) + "\n"


class Proxy:
    """The proxy under test (ketch or nutcracker) with a config written into
    <workdir>. <pools> maps pool name -> pool dict; a pool without "listen"
    gets a free loopback port ("listen": None: no listen line, a ketch
    backend-only pool). After start(), self.ports[pool] is its port."""

    def __init__(self, workdir, pools, binary=None, name="proxy", threads=2,
                 stats_interval_ms=None, verbosity=None, extra_args=()):
        self.workdir = str(workdir)
        self.binary = binary or proxy_bin()
        self.name = name
        self.threads = threads
        self.stats_interval_ms = stats_interval_ms
        self.verbosity = verbosity or os.environ.get("KETCH_TEST_VERBOSE", "6")
        self.extra_args = list(extra_args)
        self.pools = {k: dict(v) for k, v in pools.items()}
        self._fixed_listen = {k for k, v in self.pools.items() if "listen" in v}
        self.confpath = os.path.join(self.workdir, "%s.yml" % name)
        self.logpath = os.path.join(self.workdir, "%s.log" % name)
        self.stats_port = None
        self.proc = None
        self.ports = {}

    @property
    def nutcracker(self):
        return is_nutcracker(self.binary)

    @property
    def port(self):
        """The listen port of the only (or first) listening pool."""
        return next(iter(self.ports.values()))

    def argv(self):
        argv = [self.binary, "-c", self.confpath, "-s", str(self.stats_port),
                "-a", "127.0.0.1", "-o", self.logpath, "-v", str(self.verbosity)]
        if self.stats_interval_ms is not None:
            argv += ["-i", str(self.stats_interval_ms)]
        if not self.nutcracker and self.threads:
            argv += ["-T", str(self.threads)]
        return argv + self.extra_args

    def write_config(self):
        for name, pool in self.pools.items():
            if name != "ketch" and name not in self._fixed_listen:  # "ketch:" is not a pool
                rest = {k: v for k, v in pool.items() if k != "listen"}
                self.pools[name] = {"listen": "127.0.0.1:%d" % free_port(), **rest}
        with open(self.confpath, "w") as f:
            f.write(yaml_config(self.pools))
        self.ports = {name: int(p["listen"].rsplit(":", 1)[1])
                      for name, p in self.pools.items() if p.get("listen")}

    def start(self):
        if not self.binary or not os.access(self.binary, os.X_OK):
            raise RuntimeError("proxy binary not executable: %r" % self.binary)
        for _ in range(3):
            self.stats_port = free_port()
            self.write_config()
            self.proc = spawn(self.argv(), self.logpath)
            ok = all(wait_port(p, self.proc) for p in self.ports.values())
            if ok and wait_port(self.stats_port, self.proc):
                return self
            exited = self.proc.poll() is not None
            _stop_popen(self.proc)
            if not exited or not self._port_taken():
                break  # not a lost race for a port: retrying will not help
        raise RuntimeError("%s did not start (%s):\n%s\n--- config:\n%s" % (
            self.name, " ".join(self.argv()), tail(self.logpath),
            open(self.confpath).read()))

    def _port_taken(self):
        return any(port_accepts(p) for p in list(self.ports.values()) + [self.stats_port])

    def stop(self):
        if self.proc is not None:
            _stop_popen(self.proc)
            self.proc = None
            # a sanitizer build reports memory errors and leaks in the log
            with open(self.logpath, "rb") as f:
                log = f.read()
            for marker in (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer", b"runtime error:"):
                if marker in log:
                    raise AssertionError("%s reported %s:\n%s" % (
                        self.name, marker.decode(), tail(self.logpath)))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def conn(self, pool=None, timeout=IO_TIMEOUT_S):
        return McConn(self.ports[pool] if pool else self.port, timeout=timeout)

    def resp(self, pool=None, timeout=IO_TIMEOUT_S):
        """A RespConn to a redis pool's listener."""
        return RespConn(self.ports[pool] if pool else self.port, timeout=timeout)

    def stats(self):
        """One JSON object from the stats port, read until EOF."""
        with socket.create_connection(("127.0.0.1", self.stats_port),
                                      timeout=IO_TIMEOUT_S) as s:
            chunks = []
            deadline = time.monotonic() + IO_TIMEOUT_S
            while time.monotonic() < deadline:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
            else:
                raise TimeoutError("stats port did not close the connection")
        return json.loads(b"".join(chunks).decode("utf-8"))


class Cluster:
    """Owns every server and proxy a fixture starts; close() stops them all."""

    def __init__(self, workdir):
        self.workdir = str(workdir)
        self._owned = []
        self._nmc = 0
        self._nredis = 0
        self._nzk = 0

    def memcached(self, n=1, prefix="mc", extra_args=("-I", "2m")):
        out = []
        for _ in range(n):
            self._nmc += 1
            m = Memcached(self.workdir, name="%s%d" % (prefix, self._nmc), extra_args=extra_args)
            self._owned.append(m)
            out.append(m.start())
        return out

    def redis(self, n=1, prefix="redis", requirepass=None, extra_args=()):
        out = []
        for _ in range(n):
            self._nredis += 1
            r = RedisServer(self.workdir, name="%s%d" % (prefix, self._nredis),
                            requirepass=requirepass, extra_args=extra_args)
            self._owned.append(r)
            out.append(r.start())
        return out

    def zookeeper(self):
        self._nzk += 1
        z = ZooKeeper(self.workdir, name="zk%d" % self._nzk)
        self._owned.append(z)
        return z.start()

    def silent(self):
        s = SilentServer()
        self._owned.append(s)
        return s.start()

    def scripted(self, script, protocol="memcache"):
        s = ScriptedServer(script, protocol)
        self._owned.append(s)
        return s.start()

    def adopt(self, thing):
        """Stop <thing> (anything with stop()) with the rest at close()."""
        self._owned.append(thing)
        return thing

    def proxy(self, pools, **kw):
        p = Proxy(self.workdir, pools, **kw)
        self._owned.append(p)
        return p.start()

    def close(self):
        errors = []
        for thing in reversed(self._owned):
            try:
                thing.stop()
            except Exception as e:  # keep stopping the rest
                errors.append(e)
        self._owned = []
        if errors:
            raise errors[0]


def server_line(server, weight=1, name=None):
    s = "%s:%d" % (server.addr, weight)
    return s + (" " + name if name else "")


def redis_pool_config(servers, name="ralpha", **extra):
    """One Redis pool <name> over <servers>, named r1..rN, ketama over
    fnv1a_64, hash tag "{}"; <extra> adds or overrides pool keys."""
    pool = {
        "redis": True,
        "hash": "fnv1a_64",
        "distribution": "ketama",
        "hash_tag": "{}",
        "timeout": 3000,
        "servers": [server_line(r, 1, "r%d" % (i + 1)) for i, r in enumerate(servers)],
    }
    pool.update(extra)
    return {name: pool}


# --------------------------------------------------------------------------
# a memcached text-protocol client that shows the bytes


class Item:
    __slots__ = ("key", "flags", "value", "cas")

    def __init__(self, key, flags, value, cas):
        self.key, self.flags, self.value, self.cas = key, flags, value, cas

    def __repr__(self):
        return "Item(%r, flags=%d, %d bytes, cas=%r)" % (
            self.key, self.flags, len(self.value), self.cas)


class ProtocolError(AssertionError):
    pass


class McConn:
    """One client connection. Every read has a timeout: a silent proxy makes
    the test fail, never hang."""

    def __init__(self, port, host="127.0.0.1", timeout=IO_TIMEOUT_S, nodelay=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.timeout = timeout

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def send_slowly(self, data, chunk=1, pause=0.0):
        """Send <data> in <chunk>-byte writes (TCP_NODELAY: one segment each)."""
        for i in range(0, len(data), chunk):
            self.sock.sendall(data[i:i + chunk])
            if pause:
                time.sleep(pause)

    def _fill(self):
        data = self.sock.recv(262144)
        if not data:
            raise EOFError("connection closed by peer; unread: %r" % bytes(self.buf[:200]))
        self.buf += data

    def readline(self):
        """One line including its \\r\\n."""
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i + 2])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > 4 * 1024 * 1024:
                raise ProtocolError("no line end in 4 MiB: %r" % bytes(self.buf[:200]))
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def call(self, line):
        """Send one command line, return the one-line reply."""
        if isinstance(line, str):
            line = line.encode()
        self.send(line + b"\r\n")
        return self.readline()

    def read_values(self):
        """Read a retrieval reply: a list of Items up to END. A reply that is
        not VALUE/END raises ProtocolError carrying that line."""
        items = []
        while True:
            line = self.readline()
            if line == b"END\r\n":
                return items
            parts = line[:-2].split(b" ")
            if parts[0] != b"VALUE" or len(parts) not in (4, 5):
                raise ProtocolError("unexpected line in retrieval reply: %r" % line)
            nbytes = int(parts[3])
            value = self.read_exact(nbytes + 2)
            if value[-2:] != b"\r\n":
                raise ProtocolError("data block not terminated by \\r\\n: %r" % value[-10:])
            items.append(Item(parts[1], int(parts[2]), value[:-2],
                              int(parts[4]) if len(parts) == 5 else None))

    def get_multi(self, keys, cmd=b"get"):
        keys = [k.encode() if isinstance(k, str) else k for k in keys]
        self.send(cmd + b" " + b" ".join(keys) + b"\r\n")
        return self.read_values()

    def get(self, key, cmd=b"get"):
        """The value of <key>, or None on a miss."""
        items = self.get_multi([key], cmd)
        assert len(items) <= 1, items
        return items[0].value if items else None

    def gets(self, key):
        items = self.get_multi([key], b"gets")
        assert len(items) <= 1, items
        return items[0] if items else None

    def store(self, cmd, key, value, flags=0, exptime=0, cas=None, noreply=False):
        """A storage command; returns the reply line (None with noreply)."""
        line = storage_line(cmd, key, value, flags, exptime, cas, noreply)
        self.send(line)
        return None if noreply else self.readline()

    def set(self, key, value, **kw):
        return self.store("set", key, value, **kw)

    def expect_closed(self, timeout=IO_TIMEOUT_S):
        """True when the peer closes the connection (EOF or reset) within <timeout>."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        finally:
            self.sock.settimeout(self.timeout)

    def nothing_pending(self, wait=0.2):
        """True when no bytes arrive within <wait> seconds."""
        if self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(65536)
            self.buf += data
            return False
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(self.timeout)


def storage_line(cmd, key, value, flags=0, exptime=0, cas=None, noreply=False):
    if isinstance(key, str):
        key = key.encode()
    if isinstance(value, str):
        value = value.encode()
    head = b"%s %s %d %d %d" % (cmd.encode() if isinstance(cmd, str) else cmd,
                                key, flags, exptime, len(value))
    if cas is not None:
        head += b" %d" % cas
    if noreply:
        head += b" noreply"
    return head + b"\r\n" + value + b"\r\n"


# --------------------------------------------------------------------------
# a RESP2 client that shows the reply types


class RespStatus(bytes):
    """A status reply (+OK): its text, without the + and the \\r\\n."""

    def __repr__(self):
        return "+" + bytes.__repr__(self)


class RespError(bytes):
    """An error reply (-ERR ...): its text, without the - and the \\r\\n."""

    def __repr__(self):
        return "-" + bytes.__repr__(self)


def _arg(a):
    if isinstance(a, bytes):
        return a
    if isinstance(a, str):
        return a.encode()
    if isinstance(a, (int, float)):
        return str(a).encode()
    raise TypeError("RESP argument %r" % (a,))


def resp_command(*args):
    """A RESP2 request frame: an array of bulk strings."""
    args = [_arg(a) for a in args]
    return b"".join([b"*%d\r\n" % len(args)] +
                    [b"$%d\r\n%s\r\n" % (len(a), a) for a in args])


class RespConn(McConn):
    """One RESP connection. Replies: RespStatus, RespError, int, bytes (bulk),
    None (nil bulk or nil array), list (array, nested as sent)."""

    def command(self, *args):
        self.send(resp_command(*args))

    def call(self, *args):
        """Send one command, return its parsed reply."""
        self.command(*args)
        return self.read_reply()

    def pipeline(self, commands):
        """Send every command (a tuple of arguments) in one write, then read
        as many replies."""
        self.send(b"".join(resp_command(*c) for c in commands))
        return [self.read_reply() for _ in commands]

    def read_reply(self):
        line = self.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return RespStatus(rest)
        if kind == b"-":
            return RespError(rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.read_exact(n + 2)
            if data[-2:] != b"\r\n":
                raise ProtocolError("bulk string not terminated by \\r\\n: %r" % data[-10:])
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self.read_reply() for _ in range(n)]
        raise ProtocolError("not a RESP2 reply: %r" % line)


def make_keys(n, tag="k"):
    """<n> distinct keys that spread over a ring (keys differing only in a
    trailing counter cluster under 32-bit FNV)."""
    return ["%s:%s" % (tag, hashlib.md5(("%s/%d" % (tag, i)).encode()).hexdigest()[:16])
            for i in range(n)]


def wait_until(pred, timeout=IO_TIMEOUT_S, interval=0.05):
    """Poll <pred> until it returns a true value or <timeout> passes; returns
    the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)

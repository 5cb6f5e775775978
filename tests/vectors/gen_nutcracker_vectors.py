#!/usr/bin/python3
"""Golden vectors for hashring/, produced by nutcracker (twemproxy) itself.

Starts memcached servers and nutcracker on loopback ports chosen at run time,
sets keys through nutcracker pools, asks every memcached directly which one
holds each key, then stops everything. Standard library only; needs the
`nutcracker` (0.5.0) and `memcached` binaries. Run from anywhere:

    /usr/bin/python3 tests/vectors/gen_nutcracker_vectors.py [outdir]

It writes into this file's directory unless told otherwise:

nutcracker_hash.txt
    The 32-bit value of all 12 hash functions for every key, as nutcracker
    computes it. nutcracker never prints a hash, but with `distribution:
    modula` over N servers of weight 1 the server it picks is hash % N in
    nutcracker's server order (sorted by name: length, then bytes). Seven
    such pools with pairwise coprime N (31 29 27 25 23 19 17, product > 2^32)
    give the residues, and the Chinese remainder theorem gives the value.
    Lines: `key <escaped key> <hex value per hash, in the `hashes` order>`.

nutcracker_<distribution>_<hash>[_<variant>].txt
    One nutcracker pool each: `hash`, `distribution`, optional `hash_tag`,
    then `node <index> <weight> <name>` per server in config order, where
    <name> is the exact ketama identity nutcracker hashes (the explicit name,
    or host:port for unnamed servers, whose port was chosen at run time), then
    `key <index> <escaped key>`: the node that stored the key. Indexes are
    config order; nutcracker itself works in name order (see
    nutcracker_ranks), so a modula vector only matches a ring that orders its
    nodes the same way.

Keys are escaped so that every line is ASCII: bytes 0x21-0x7e other than '%'
stand for themselves, any other byte is %XX (two upper-case hex digits).
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import zlib
import hashlib

HASHES = [
    "one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64",
    "fnv1a_64", "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins",
]

# Pairwise coprime, product 4508102925 > 2^32: enough residues to pin a
# 32-bit hash down exactly.
CRT_MODULI = [31, 29, 27, 25, 23, 19, 17]
NSERVERS = max(CRT_MODULI)
MAX_KEY_LEN = 250  # memcached and nutcracker (MEMCACHE_MAX_KEY_LENGTH)
GET_LINE_MAX = 1800  # bytes per multi-get line we send to memcached
PIPELINE = 64  # requests in flight per socket
HOST = "127.0.0.1"

NAMES_A = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
NAMES_B = ["mc-01", "mc-02", "mc-03", "mc-04", "mc-05"]
NAMES_C = ["cache-a.example.com:11211", "cache-b.example.com:11211",
           "cache-c.example.com:11211", "cache-d.example.com:11211",
           "cache-e.example.com:11211"]

# (hash, names or None for unnamed host:port servers, weights): one ketama
# pool per hash, mixing named/unnamed servers and equal/unequal weights.
KETAMA = [
    ("one_at_a_time", NAMES_A[:5], [1, 1, 1, 1, 1]),
    ("md5", None, [1, 1, 1, 1, 1]),
    ("crc16", NAMES_B, [1, 2, 3, 4, 5]),
    ("crc32", None, [1, 1, 1, 1, 1]),
    ("crc32a", NAMES_C, [1, 1, 1, 1, 1]),
    ("fnv1_64", None, [2, 1, 1, 3, 1]),
    ("fnv1a_64", NAMES_A[:5], [1, 1, 1, 1, 1]),
    ("fnv1_32", None, [1, 1, 1, 1, 1]),
    ("fnv1a_32", NAMES_B, [7, 3, 11, 1, 5]),
    ("hsieh", None, [1, 1, 1, 1, 1]),
    ("murmur", NAMES_C, [1, 1, 1, 1, 1]),
    ("jenkins", None, [3, 1, 4, 1, 5]),
]


def escape(key):
    out = []
    for b in key:
        if 0x21 <= b <= 0x7E and b != 0x25:
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def make_keys():
    """Deterministic keys: 1 to 250 bytes, ASCII and high bytes, hash tags."""
    keys = []
    for c in b"az09~{}$:%":
        keys.append(bytes([c]))
    for c in (0x80, 0xA0, 0xC3, 0xE9, 0xFF):
        keys.append(bytes([c]))
    # A high byte at every position of every short length: the signed-char
    # and tail handling of each hash.
    for n in range(2, 14):
        for pos in range(n):
            k = bytearray(b"abcdefghijklm"[:n])
            k[pos] = 0xE9 if pos % 2 else 0x9F
            keys.append(bytes(k))
    for n in range(2, 17):
        keys.append(bytes([0xFF]) * n)
    words = [
        b"foo", b"bar", b"hello", b"user:1000", b"user:1001", b"session:abc123",
        b"123456789", b"The_quick_brown_fox_jumps_over_the_lazy_dog",
        b"a-b_c.d/e", b"key", b"key1", b"key2", b"Key", b"KEY",
    ]
    keys.extend(words)
    tagged = [
        b"{user1000}.following", b"{user1000}.followers", b"{user1001}.following",
        b"foo{bar}baz", b"{}", b"{}x", b"x{}", b"{}{a}", b"{a}{b}", b"}{", b"}a{b}",
        b"{a", b"a}", b"{{a}}", b"{x}", b"{ab}cd", b"cd{ab}",
        b"$a$b", b"$$x$", b"a$bc$d", b"$", b"x$y", b":a:b", b"::", b"a::b:c",
    ]
    keys.extend(tagged)
    for n in (63, 64, 65, 119, 120, 128, 200, 249, 250):
        keys.append((b"long-%d-" % n + b"x" * n)[:n])
    keys.append(bytes(range(0x80, 0x80 + 100)) + bytes(range(0x21, 0x21 + 94)) + b"!" * 6)
    rng = random.Random(20240229)
    alphabet = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))
    for i in range(130):
        n = rng.choice([rng.randint(1, 16), rng.randint(1, 64), rng.randint(1, MAX_KEY_LEN)])
        keys.append(bytes(rng.choice(alphabet) for _ in range(n)))
    for i in range(40):
        keys.append(b"obj:%d:%s" % (i * 7919, b"{tag%d}" % (i % 5)))
    seen, uniq = set(), []
    for k in keys:
        assert 1 <= len(k) <= MAX_KEY_LEN and b" " not in k, k
        if k not in seen:
            seen.add(k)
            uniq.append(k)
    return uniq


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_port(port, proc, what):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %d" % (what, proc.returncode))
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on port %d" % (what, port))


class Conn:
    """A memcached text-protocol connection with a buffered reader."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=20)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise RuntimeError("connection closed")
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exactly(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def set_many(self, keys, value):
        for i in range(0, len(keys), PIPELINE):
            batch = keys[i:i + PIPELINE]
            self.sock.sendall(b"".join(
                b"set %s 0 0 %d\r\n%s\r\n" % (k, len(value), value) for k in batch))
            for k in batch:
                reply = self.line()
                if reply != b"STORED":
                    raise RuntimeError("set %r: %r" % (k, reply))

    def get_many(self, keys):
        """{key: value} for the keys this server holds."""
        lines, cur = [], []
        for k in keys:
            if cur and sum(len(x) + 1 for x in cur) + len(k) > GET_LINE_MAX:
                lines.append(cur)
                cur = []
            cur.append(k)
        if cur:
            lines.append(cur)
        found = {}
        for i in range(0, len(lines), PIPELINE):
            batch = lines[i:i + PIPELINE]
            self.sock.sendall(b"".join(b"get " + b" ".join(ks) + b"\r\n" for ks in batch))
            for _ in batch:
                while True:
                    line = self.line()
                    if line == b"END":
                        break
                    parts = line.split(b" ")
                    if parts[0] != b"VALUE" or len(parts) != 4:
                        raise RuntimeError("get: %r" % line)
                    data = self.exactly(int(parts[3]) + 2)
                    found[parts[1]] = data[:-2]
        return found


class Pool:
    def __init__(self, label, hash_name, dist, servers, names, weights, hash_tag=None):
        self.label = label
        self.hash = hash_name
        self.dist = dist
        self.servers = servers  # indexes into the memcached list
        self.names = names  # explicit names, or None
        self.weights = weights
        self.hash_tag = hash_tag
        self.port = None
        self.owner = {}

    def server_lines(self, mc_ports):
        out = []
        for i, s in enumerate(self.servers):
            line = "%s:%d:%d" % (HOST, mc_ports[s], self.weights[i])
            if self.names:
                line += " " + self.names[i]
            out.append(line)
        return out

    def node_names(self, mc_ports):
        # nutcracker conf_add_server: the explicit name, else host when the
        # port is 11211, else host:port. Our ports are never 11211.
        if self.names:
            return list(self.names)
        for s in self.servers:
            assert mc_ports[s] != 11211
        return ["%s:%d" % (HOST, mc_ports[s]) for s in self.servers]

    def yaml(self, mc_ports):
        out = ["%s:" % self.label,
               "  listen: %s:%d" % (HOST, self.port),
               "  hash: %s" % self.hash,
               "  distribution: %s" % self.dist,
               "  timeout: 5000",
               "  auto_eject_hosts: false"]
        if self.hash_tag:
            out.append('  hash_tag: "%s"' % self.hash_tag)
        out.append("  servers:")
        out.extend("   - %s" % line for line in self.server_lines(mc_ports))
        return "\n".join(out) + "\n"


def pools_for(hash_name):
    pools = [Pool("crt%d" % n, hash_name, "modula", list(range(n)), None, [1] * n)
             for n in CRT_MODULI]
    for h, names, weights in KETAMA:
        if h == hash_name:
            pools.append(Pool("ketama", h, "ketama", list(range(5)), names, weights))
    if hash_name == "fnv1a_64":
        pools.append(Pool("ketama_add", hash_name, "ketama", list(range(6)), NAMES_A,
                          [1] * 6))
        pools.append(Pool("ketama_tag", hash_name, "ketama", list(range(5)), NAMES_A[:5],
                          [1] * 5, hash_tag="{}"))
        # 25 equal servers: twemproxy's float arithmetic gives each 156
        # points, not 160.
        pools.append(Pool("ketama_25", hash_name, "ketama", list(range(25)),
                          ["shard-%02d" % (i + 1) for i in range(25)], [1] * 25))
    if hash_name == "crc32a":
        pools.append(Pool("modula_tag", hash_name, "modula", list(range(3)), None,
                          [2, 1, 1], hash_tag="$$"))
    if hash_name in ("md5", "fnv1a_64", "crc32a", "murmur"):
        pools.append(Pool("modula", hash_name, "modula", list(range(4)), NAMES_B[:4],
                          [3, 1, 4, 2]))
    return pools


def run_pools(pools, mc_ports, keys, tmpdir, procs, run_id):
    ports = free_ports(len(pools) + 1)
    for pool, port in zip(pools, ports):
        pool.port = port
    conf = os.path.join(tmpdir, "nutcracker-%d.yml" % run_id)
    with open(conf, "w") as f:
        for pool in pools:
            f.write(pool.yaml(mc_ports))
    log = os.path.join(tmpdir, "nutcracker-%d.log" % run_id)
    nc = subprocess.Popen(["nutcracker", "-c", conf, "-s", str(ports[-1]), "-a", HOST,
                           "-o", log, "-v", "4"],
                          stdin=subprocess.DEVNULL)
    procs.append(nc)
    try:
        for pool in pools:
            wait_port(pool.port, nc, "nutcracker")
        for n, pool in enumerate(pools):
            tag = b"run%d-pool%d" % (run_id, n)
            conn = Conn(pool.port)
            try:
                conn.set_many(keys, tag)
            finally:
                conn.close()
            holders = {k: [] for k in keys}
            for idx, s in enumerate(pool.servers):
                conn = Conn(mc_ports[s])
                try:
                    found = conn.get_many(keys)
                finally:
                    conn.close()
                for k, v in found.items():
                    if v == tag:
                        holders[k].append(idx)
            for k in keys:
                if len(holders[k]) != 1:
                    raise RuntimeError("pool %s: key %r held by %r" % (pool.label, k,
                                                                       holders[k]))
                pool.owner[k] = holders[k][0]
    finally:
        nc.terminate()
        nc.wait(timeout=10)
        procs.remove(nc)


def nutcracker_ranks(names):
    """Position of each server in nutcracker's own order.

    nutcracker sorts a pool's servers by name (conf_validate_server:
    array_sort with string_compare, which orders by length, then bytes), and
    the continuum follows that order, not the order of the config file.
    """
    order = sorted(range(len(names)), key=lambda i: (len(names[i]), names[i].encode()))
    ranks = [0] * len(names)
    for r, i in enumerate(order):
        ranks[i] = r
    return ranks


def crt(residues):
    value, modulus = 0, 1
    for r, m in residues:
        # value + modulus * t == r (mod m)
        t = ((r - value) * pow(modulus, -1, m)) % m
        value += modulus * t
        modulus *= m
    return value


def versions():
    nc = subprocess.run(["nutcracker", "-V"], capture_output=True, text=True)
    mc = subprocess.run(["memcached", "-V"], capture_output=True, text=True)
    return ((nc.stdout + nc.stderr).strip().splitlines()[0].replace("This is ", ""),
            (mc.stdout + mc.stderr).strip().splitlines()[0])


def header(nc_version, mc_version):
    return ("# Generated by tests/vectors/gen_nutcracker_vectors.py; do not edit.\n"
            "# Oracle: %s, %s.\n" % (nc_version, mc_version))


def write_pool(outdir, pool, keys, mc_ports, head):
    variant = ""
    if pool.label not in ("ketama", "modula"):
        variant = "_" + pool.label.split("_", 1)[1]
    path = os.path.join(outdir, "nutcracker_%s_%s%s.txt" % (pool.dist, pool.hash, variant))
    with open(path, "w") as f:
        f.write(head)
        f.write("# nutcracker pool (listen port and server ports were chosen at run time):\n")
        for line in pool.yaml(mc_ports).splitlines():
            f.write("#   %s\n" % line)
        f.write("hash %s\n" % pool.hash)
        f.write("distribution %s\n" % pool.dist)
        if pool.hash_tag:
            f.write("hash_tag %s\n" % pool.hash_tag)
        for i, name in enumerate(pool.node_names(mc_ports)):
            f.write("node %d %d %s\n" % (i, pool.weights[i], name))
        for k in keys:
            f.write("key %d %s\n" % (pool.owner[k], escape(k)))
    return path


def self_check(values, keys):
    """The residues must rebuild what Python's own md5 and crc32 give."""
    for k in keys:
        md5 = int.from_bytes(hashlib.md5(k).digest()[:4], "little")
        if values["md5"][k] != md5:
            raise RuntimeError("md5 of %r: nutcracker %08x, hashlib %08x"
                               % (k, values["md5"][k], md5))
        if values["crc32a"][k] != zlib.crc32(k):
            raise RuntimeError("crc32a of %r disagrees with zlib" % k)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else here
    for tool in ("nutcracker", "memcached"):
        if shutil.which(tool) is None:
            sys.exit("gen_nutcracker_vectors: %s not found" % tool)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    nc_version, mc_version = versions()
    head = header(nc_version, mc_version)
    keys = make_keys()
    procs = []
    with tempfile.TemporaryDirectory(prefix="ketch-vectors-") as tmpdir:
        try:
            mc_ports = free_ports(NSERVERS)
            user = ["-u", "root"] if os.geteuid() == 0 else []
            for port in mc_ports:
                procs.append(subprocess.Popen(
                    ["memcached", "-l", HOST, "-p", str(port), "-U", "0", "-m", "64",
                     "-t", "1", "-c", "256"] + user, stdin=subprocess.DEVNULL))
            for port, proc in zip(mc_ports, procs):
                wait_port(port, proc, "memcached")

            values = {}
            written = []
            for run_id, h in enumerate(HASHES):
                pools = pools_for(h)
                run_pools(pools, mc_ports, keys, tmpdir, procs, run_id)
                byname = {p.label: p for p in pools}
                values[h] = {}
                ranks = {n: nutcracker_ranks(byname["crt%d" % n].node_names(mc_ports))
                         for n in CRT_MODULI}
                for k in keys:
                    v = crt([(ranks[n][byname["crt%d" % n].owner[k]], n) for n in CRT_MODULI])
                    if v >= 1 << 32:
                        raise RuntimeError("%s of %r: residues give %d > 2^32" % (h, k, v))
                    values[h][k] = v
                for p in pools:
                    if not p.label.startswith("crt"):
                        written.append(write_pool(outdir, p, keys, mc_ports, head))
                print("gen_nutcracker_vectors: %s done" % h, file=sys.stderr)
            self_check(values, keys)

            path = os.path.join(outdir, "nutcracker_hash.txt")
            with open(path, "w") as f:
                f.write(head)
                f.write("# Each value is rebuilt from the servers nutcracker chose in modula\n"
                        "# pools of %s servers (weight 1): hash %% N for each N.\n"
                        % " ".join(str(n) for n in CRT_MODULI))
                f.write("hashes %s\n" % " ".join(HASHES))
                for k in keys:
                    f.write("key %s %s\n" % (escape(k),
                                             " ".join("%08x" % values[h][k] for h in HASHES)))
            written.append(path)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    for path in written:
        print(os.path.relpath(path), file=sys.stderr)
    print("gen_nutcracker_vectors: %d keys, %d files" % (len(keys), len(written)),
          file=sys.stderr)


if __name__ == "__main__":
    main()

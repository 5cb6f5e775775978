#!/usr/bin/env bash
# Install what ketch needs (Debian 12, as root), build it, start two local
# memcached servers and two local redis-servers, and run ketch in front of
# them in the foreground. Poke it from another terminal:
#   printf 'set k 0 0 5\r\nhello\r\nget k\r\n' | nc -q1 127.0.0.1 22121
#   redis-cli -p 22122 mset a 1 b 2 c 3 && redis-cli -p 22122 mget a b c
#   nc 127.0.0.1 22222          # nutcracker-style stats JSON
# Ctrl-C stops ketch and the servers.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
[ -x configure ] || ./autogen.sh
[ -f Makefile ] || ./configure
make -j"$(nproc)"

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

for port in 21211 21212; do
    memcached -l 127.0.0.1 -p "$port" -U 0 -u nobody &
    pids+=($!)
done
for port in 26379 26380; do
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no &
    pids+=($!)
done

echo "ketch: memcached pool on 127.0.0.1:22121 (servers 21211, 21212)"
echo "ketch: Redis pool on 127.0.0.1:22122 (servers 26379, 26380), stats on 127.0.0.1:22222"
./ketch -c conf/examples/demo.yml -s 22222 -a 127.0.0.1 &
pids+=($!)
wait "${pids[-1]}"

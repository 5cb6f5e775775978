#!/usr/bin/env bash
# Install what ketch needs to build and to run its whole test suite on a fresh
# Debian 12 machine: compiler and autotools, the C libraries, the servers the
# integration tests start (memcached, Redis, ZooKeeper, nutcracker for the
# drop-in comparison), the Python test modules and clang-format.
# Run as root, or as a user with sudo. Called by .ci/run and the README.
set -euo pipefail

PACKAGES=(
    autoconf automake libtool pkg-config make gcc
    libuv1-dev libyaml-dev check libhiredis-dev libssl-dev libzookeeper-mt-dev
    memcached redis-server redis-tools nutcracker zookeeperd
    python3-pytest python3-redis python3-pymemcache python3-kazoo
    clang-format netcat-openbsd
    linux-perf valgrind strace
)

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
else
    as_root=(sudo)
fi

"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${PACKAGES[@]}"

#!/bin/sh
# Run the pytest integration suite against the built ketch (make check runs
# this with KETCH_BIN, KETCH_SRCDIR and KETCH_BUILDDIR set; it works from an
# out-of-tree build and never writes into the source tree).
#
# By hand, from a build directory:
#   tests/integration/run.sh                      # all tests
#   tests/integration/run.sh -k dropin            # extra args go to pytest
#   KETCH_BIN=/usr/sbin/nutcracker KETCH_TEST_AGAINST_NUTCRACKER=1 \
#       tests/integration/run.sh                  # check the tests on nutcracker
#
# Exit 77 (automake: SKIP) when pytest or memcached is missing. ZooKeeper, java
# and kazoo are not optional: without them the ZooKeeper tests fail rather
# than skip, since CI installs them (scripts/install-deps.sh).

set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${KETCH_SRCDIR:=$(cd "$here/../.." && pwd)}"
: "${KETCH_BUILDDIR:=$(pwd)}"
: "${KETCH_BIN:=$KETCH_BUILDDIR/ketch}"
: "${PYTHON3:=/usr/bin/python3}"
export KETCH_SRCDIR KETCH_BUILDDIR KETCH_BIN PYTHON3
# no __pycache__ in the (possibly read-only) source tree
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE

if ! "$PYTHON3" -c 'import pytest' 2>/dev/null; then
    echo "SKIP: $PYTHON3 has no pytest (Debian: apt-get install python3-pytest)"
    exit 77
fi
if ! command -v "${MEMCACHED_BIN:-memcached}" >/dev/null 2>&1; then
    echo "SKIP: memcached not found (Debian: apt-get install memcached)"
    exit 77
fi
if [ ! -x "$KETCH_BIN" ]; then
    echo "ERROR: proxy binary $KETCH_BIN is missing or not executable"
    exit 99
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ketch-it.XXXXXX") || exit 99

# A deadline for the whole run on top of each test's own (conftest.py): a
# wedged run ends, and on SIGTERM pytest still tears down and stops servers.
limit=${KETCH_SUITE_TIMEOUT:-1800}
if command -v timeout >/dev/null 2>&1; then
    deadline="timeout -k 30 $limit"
else
    deadline=
fi
$deadline "$PYTHON3" -m pytest -p no:cacheprovider -q -rfEs \
    --basetemp="$tmp/pytest" \
    --rootdir="$KETCH_SRCDIR/tests/integration" \
    "$KETCH_SRCDIR/tests/integration" "$@"
rc=$?
[ "$rc" -eq 124 ] && echo "integration suite exceeded ${limit}s (KETCH_SUITE_TIMEOUT)"

if [ "$rc" -eq 0 ]; then
    rm -rf "$tmp"
else
    echo "proxy configs and logs kept in $tmp/pytest"
fi
# pytest 5 = no tests collected: treat as a failure, not a pass
[ "$rc" -eq 5 ] && rc=1
exit "$rc"

#!/bin/sh
# Style check, run by make check: the C sources (*.c *.h *.def) under the
# source folders have no tabs, no trailing whitespace, end with a newline and
# match .clang-format (when clang-format is installed); no file there names
# the work machine's folders. Reads $KETCH_SRCDIR only; prints file:line for
# each problem and exits 1 if there is any.
#
#   KETCH_STYLE_NO_CLANG_FORMAT=1   skip the clang-format pass

set -u

here=$(cd "$(dirname "$0")" && pwd)
: "${KETCH_SRCDIR:=$(cd "$here/../.." && pwd)}"
cd "$KETCH_SRCDIR" || exit 99

DIRS="common hashring protocols conf zk proxy tests bench"
# built from pieces so that this file does not match itself
MACHINE_PATHS='/(wor''k|far''m)/'

status=0
fail() {
    echo "$1"
    status=1
}

# shellcheck disable=SC2086 # $DIRS is a word list
c_files=$(find $DIRS -type f \( -name '*.c' -o -name '*.h' -o -name '*.def' \) \
    -not -path '*/.*' 2>/dev/null | LC_ALL=C sort)
# shellcheck disable=SC2086
text_files=$(find $DIRS -type f \( -name '*.c' -o -name '*.h' -o -name '*.def' \
    -o -name '*.py' -o -name '*.sh' -o -name '*.inc' -o -name '*.yml' -o -name '*.yaml' \
    -o -name '*.md' -o -name '*.txt' -o -name '*.8' -o -name '*.in' \) \
    -not -path '*/.*' 2>/dev/null | LC_ALL=C sort)
text_files="$text_files Makefile.am configure.ac autogen.sh"
[ -f .ci/run ] && text_files="$text_files .ci/run"
[ -d scripts ] && text_files="$text_files $(find scripts -type f | LC_ALL=C sort)"

tab=$(printf '\t')
for f in $c_files; do
    if grep -q "$tab" "$f"; then
        grep -n "$tab" "$f" /dev/null | cut -d: -f1,2 | sed 's/$/: tab character/'
        status=1
    fi
    if grep -qE '[[:space:]]$' "$f"; then
        grep -nE '[[:space:]]$' "$f" /dev/null | cut -d: -f1,2 | sed 's/$/: trailing whitespace/'
        status=1
    fi
    if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]; then
        fail "$f: no newline at end of file"
    fi
done

for f in $text_files; do
    [ -f "$f" ] || continue
    if grep -qIE "$MACHINE_PATHS" "$f"; then
        grep -InE "$MACHINE_PATHS" "$f" /dev/null | cut -d: -f1,2 | \
            sed 's/$/: absolute path of the work machine/'
        status=1
    fi
done

if [ "${KETCH_STYLE_NO_CLANG_FORMAT:-0}" = 1 ]; then
    echo "clang-format pass skipped (KETCH_STYLE_NO_CLANG_FORMAT=1)"
elif ! command -v clang-format >/dev/null 2>&1; then
    echo "clang-format not installed: format pass skipped"
elif [ ! -f .clang-format ]; then
    fail ".clang-format: missing"
else
    # .def files are X-macro tables laid out by hand; not clang-format's job
    for f in $c_files; do
        case "$f" in *.def) continue ;; esac
        if ! clang-format --style=file --dry-run -Werror "$f" >/dev/null 2>&1; then
            clang-format --style=file --dry-run -Werror "$f" 2>&1 | \
                grep -E '^[^ ]+:[0-9]+:[0-9]+: (error|warning)' | head -5
            fail "$f: not formatted as .clang-format says (run: clang-format -i $f)"
        fi
    done
fi

# shellcheck disable=SC2086
[ "$status" -eq 0 ] && echo "style: ok ($(echo $c_files | wc -w) C files)"
exit "$status"

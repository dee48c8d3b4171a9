#!/usr/bin/env bash
# scripts/demo.sh [circuits-demo options] - the README's first command.
#
# Makes sure the Debian packages are there (scripts/deps.sh installs them when
# run as root; otherwise it prints the one apt-get line needed and this script
# stops), builds circuits-demo in Release mode in build/demo, and runs it with
# its defaults: worker processes sharing one Circuit and one BreakingCircuit,
# calling a rate-limited nginx that the demo starts and, midway, stops.
# Arguments are passed to circuits-demo (try --help).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build/demo"

if ! "$root/scripts/deps.sh" build demo; then
	echo "demo.sh: install the packages above, then run scripts/demo.sh again." >&2
	exit 1
fi

mkdir -p "$build"
jobs=$(nproc 2>/dev/null || echo 2)
echo "== building circuits-demo in build/demo"
# Only the library and the examples: the test suite and the benchmark need
# packages the demo does not.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
	-DCIRCUITS_BUILD_EXAMPLES=ON -DCIRCUITS_BUILD_TESTS=OFF \
	-DCIRCUITS_BUILD_BENCH=OFF -DCIRCUITS_BUILD_FUZZ=OFF \
	-DCIRCUITS_SANITIZER_VARIANTS=OFF >"$build/configure.log" 2>&1 || {
	cat "$build/configure.log" >&2
	exit 1
}
cmake --build "$build" --target circuits-demo -j"$jobs" >"$build/build.log" 2>&1 || {
	tail -n 40 "$build/build.log" >&2
	exit 1
}

echo "== running circuits-demo $*"
exec "$build/examples/circuits-demo" "$@"

#!/usr/bin/env bash
# bench/run.sh - builds and runs the benchmarks in one command.
#
#   bench/run.sh [Google Benchmark flags...]   the benchmarks, ratio table, plot
#   bench/run.sh --check                       allocation and system-call evidence
#
# Installs missing Debian packages when run as root (scripts/deps.sh build
# bench), configures a Release tree in build-bench/ (CIRCUITS_BENCH_BUILD
# overrides it) and builds circuits-bench and circuits-bench-check.
#
# The benchmarks run with REPS repetitions (default 10) of at least MIN_TIME
# seconds each (default 0.05), interleaved in random order so that a burst
# of load from elsewhere hits different cases rather than every repetition
# of one.  Results go to bench/results/<UTC time>/ (git-ignored): bench.json
# (Google Benchmark's JSON), table.txt (bench/report.py's ratio table) and
# plot.png; bench/results/latest points at the newest.  Takes about three
# minutes on a 2-core machine.  Extra arguments go to circuits-bench, e.g.
# --benchmark_filter='circuit_short|faa'.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${CIRCUITS_BENCH_BUILD:-$root/build-bench}
reps=${REPS:-10}
min_time=${MIN_TIME:-0.05}

"$root/scripts/deps.sh" build bench
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
	-DCIRCUITS_BUILD_BENCH=ON -DCIRCUITS_BUILD_TESTS=OFF \
	-DCIRCUITS_BUILD_EXAMPLES=OFF -DCIRCUITS_BUILD_FUZZ=OFF >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" \
	--target circuits-bench circuits-bench-check >/dev/null

if [ "${1:-}" = "--check" ]; then
	if ! command -v strace >/dev/null; then
		if [ "$(id -u)" -eq 0 ]; then
			apt-get install -y --no-install-recommends strace >/dev/null
		else
			echo "needs strace: sudo apt-get install -y strace" >&2
			exit 1
		fi
	fi
	echo "== heap allocations inside the measured loops (2 threads)"
	"$build/bench/circuits-bench-check" --threads 2 --ops 1000000
	echo
	echo "== system calls"
	python3 "$here/syscalls.py" "$build/bench/circuits-bench-check"
	exit 0
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$here/results/$stamp
mkdir -p "$out"
echo "Running circuits-bench ($reps repetitions; about three minutes on 2 cores)"
echo "Console output: $out/console.txt"
"$build/bench/circuits-bench" \
	--benchmark_repetitions="$reps" \
	--benchmark_min_time="$min_time" \
	--benchmark_enable_random_interleaving=true \
	--benchmark_out="$out/bench.json" --benchmark_out_format=json \
	"$@" >"$out/console.txt" 2>&1
python3 "$here/report.py" "$out/bench.json" --plot "$out/plot.png" |
	tee "$out/table.txt"
ln -sfn "$stamp" "$here/results/latest"
echo "Results: $out"

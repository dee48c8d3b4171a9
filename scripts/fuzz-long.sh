#!/usr/bin/env bash
# scripts/fuzz-long.sh SECONDS [TARGET...] - long fuzzing runs.
#
# Builds the libFuzzer targets with clang in build-fuzz/ (or
# $CIRCUITS_FUZZ_BUILD_DIR) and runs each target (default: all of them), one
# after the other, for SECONDS each, then prints how long each ran clean.
#
# Each target's corpus lives in <build>/fuzz-long/<target>/corpus: the
# committed seeds (fuzz/corpus/<target>) are copied in at every start, and
# what a run discovers stays there for the next run, so repeated runs build
# on each other.  Nothing is written into the source tree.  Findings go to
# <build>/fuzz-long/<target>/artifacts and the full log to
# <build>/fuzz-long/<target>.log.  Exits 1 when any target found anything.
set -euo pipefail

usage() {
	echo "usage: $0 SECONDS [fuzz_diff|fuzz_arith|fuzz_shm_attach ...]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
seconds=$1
shift
case "$seconds" in '' | *[!0-9]*) usage ;; esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_diff fuzz_arith fuzz_shm_attach)

root=$(cd "$(dirname "$0")/.." && pwd)
build=${CIRCUITS_FUZZ_BUILD_DIR:-$root/build-fuzz}

"$root/scripts/deps.sh" build test

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang \
	-DCIRCUITS_BUILD_FUZZ=ON -DCIRCUITS_BUILD_TESTS=OFF \
	-DCIRCUITS_BUILD_BENCH=OFF -DCIRCUITS_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" --parallel --target "${targets[@]}" >/dev/null

summary=()
failed=0
for target in "${targets[@]}"; do
	work=$build/fuzz-long/$target
	mkdir -p "$work/corpus" "$work/artifacts"
	cp "$root/fuzz/corpus/$target/"* "$work/corpus/"
	log=$work.log
	echo "== $target: fuzzing for $seconds s (log: $log)"
	start=$(date +%s)
	status=0
	"$build/fuzz/$target" -max_total_time="$seconds" -timeout=20 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" "$work/corpus" \
		>"$log" 2>&1 || status=$?
	elapsed=$(($(date +%s) - start))
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$status" -eq 0 ]; then
		summary+=("$target: ran clean for $elapsed s (${runs:-?} inputs)")
	else
		failed=1
		summary+=("$target: FINDING after $elapsed s (exit $status), see $log and $work/artifacts")
		tail -n 30 "$log" >&2
	fi
done

echo
echo "== fuzz-long summary ($(date -u +%Y-%m-%dT%H:%MZ), $(clang --version | head -n 1))"
printf '  %s\n' "${summary[@]}"
exit $failed

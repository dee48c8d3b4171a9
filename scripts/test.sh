#!/usr/bin/env bash
# scripts/test.sh - builds and runs the whole test suite: the README's second
# quick-start command, and what CI runs.
#
#   1. A clang tree (build/test) with warnings as errors: the library, the
#      Check suite in three variants (plain, ThreadSanitizer, AddressSanitizer
#      + UndefinedBehaviorSanitizer), the libFuzzer targets, the benchmark
#      binary and the examples.  ctest then runs every label: unit, stress,
#      shm, lincheck, tsan, asan, fuzz, bench, demo.
#   2. A gcc tree (build/test-gcc), also warnings as errors, that runs the
#      plain unit and shm tests: the library must build clean and pass under
#      both compilers.
#
# Installs missing Debian packages when run as root (scripts/deps.sh);
# otherwise prints the apt-get line it needs and stops.
# Environment: CIRCUITS_FUZZ_SECONDS (default 60) is each fuzzer's run time.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh build test bench demo

jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${CIRCUITS_FUZZ_SECONDS:-60}
start=$(date +%s)

echo "== clang tree: configure and build"
CC=clang CXX=clang++ cmake -S . -B build/test -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_COMPILE_WARNING_AS_ERROR=ON -DCIRCUITS_BUILD_FUZZ=ON \
	-DCIRCUITS_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build build/test -j"$jobs"

echo "== gcc tree: configure and build"
CC=gcc CXX=g++ cmake -S . -B build/test-gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_COMPILE_WARNING_AS_ERROR=ON -DCIRCUITS_SANITIZER_VARIANTS=OFF \
	-DCIRCUITS_BUILD_BENCH=OFF -DCIRCUITS_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/test-gcc -j"$jobs"

echo "== gcc tree: unit and shm tests"
ctest --test-dir build/test-gcc --output-on-failure -L 'unit|shm'

# The concurrency tests measure nothing but exact counts, yet a few tests
# time real sleeps (tens of ms), so the suite runs one test at a time.
echo "== clang tree: every label"
ctest --test-dir build/test --output-on-failure

echo "== all tests passed in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# scripts/deps.sh GROUP... - make sure the Debian packages a task needs are
# installed.  As root it installs what is missing; otherwise it prints the one
# apt-get line needed and exits 1.  Groups:
#   build  compiler, CMake, pkg-config, Concurrency Kit headers
#   test   Check, clang with its sanitizer and libFuzzer runtimes
#   bench  Google Benchmark, a C++ compiler, gnuplot, python3
#   demo   nginx, libcurl, libuv
set -euo pipefail

packages_for() {
	case "$1" in
	build) echo gcc g++ make cmake pkg-config libck-dev ;;
	test) echo check libsubunit-dev clang libclang-rt-14-dev llvm ;;
	bench) echo g++ libbenchmark-dev gnuplot-nox python3 ;;
	demo) echo nginx-light libcurl4-openssl-dev libuv1-dev ;;
	*) echo "deps.sh: unknown group '$1'" >&2; exit 2 ;;
	esac
}

wanted=()
for group in "$@"; do
	for pkg in $(packages_for "$group"); do wanted+=("$pkg"); done
done

missing=()
for pkg in "${wanted[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

# Remove duplicates, keep order.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
if [ "$(id -u)" -ne 0 ]; then
	echo "circuits needs these Debian packages, which are not installed:" >&2
	echo "  apt-get install -y ${missing[*]}" >&2
	echo "Run that line as root (sudo, if you have it), or run this command as root, and try again." >&2
	exit 1
fi
echo "Installing missing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/circuits-apt.XXXXXX.log)
if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
	# A fresh machine may have no package lists yet.
	apt-get update >>"$log" 2>&1
	apt-get install -y --no-install-recommends "${missing[@]}" >>"$log" 2>&1 || {
		echo "apt-get failed; see $log" >&2
		tail -n 20 "$log" >&2
		exit 1
	}
fi

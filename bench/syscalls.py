#!/usr/bin/env python3
"""bench/syscalls.py - system calls per operation, for every benchmark case.

    python3 bench/syscalls.py PATH/TO/circuits-bench-check [--threads T]

Runs circuits-bench-check once per case under `strace -f -c` with a small
and a large number of operations per thread (SMALL and LARGE below).  The
program does the same setup, thread start and teardown whatever the count,
so a system call made by the operations themselves shows up as a count that
grows with the operations; one made once (thread start, shared-memory
setup) does not.  Prints, per case, the total system calls of both runs, each
system call whose count changed with the operations (with the change per
operation when it is more than pthread_join's timing noise), and the calls
the case makes once per run beyond those of circuit_short (for example
shm_open's for the shared-memory case, getrandom for a thread's first
jittered trip).

The control_syscall case (one getppid per operation) shows the method sees a
per-operation system call; the mutex baseline shows what a contended mutex
costs (futex).  Standard library only; needs strace.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile

SMALL = 1000
LARGE = 1000000
# The case whose one-time calls (start-up, threads) every case shares.
REFERENCE = "circuit_short"

LINE = re.compile(
    r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$")


def strace_counts(check, case, threads, ops):
    """{syscall: calls} for one run of one case."""
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
        cmd = ["strace", "-f", "-c", "-o", out.name, check, "--case", case,
               "--threads", str(threads), "--ops", str(ops)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit("%s failed:\n%s%s" % (" ".join(cmd), result.stdout,
                                          result.stderr))
        counts = {}
        for line in out:
            m = LINE.match(line)
            if m and m.group(2) != "total":
                counts[m.group(2)] = int(m.group(1))
        return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", help="the circuits-bench-check binary")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("strace") is None:
        sys.exit("strace is not installed (apt-get install strace)")

    cases = subprocess.run([args.check, "--list"], capture_output=True,
                           text=True, check=True).stdout.split()
    extra_ops = (LARGE - SMALL) * args.threads
    reference = strace_counts(args.check, REFERENCE, args.threads, SMALL)
    print("System calls under strace -f -c: %d threads, %d and %d operations"
          " per thread" % (args.threads, SMALL, LARGE))
    print("  %-22s %9s %9s  %-28s %s" % (
        "case", "calls@1e3", "calls@1e6", "change with the operations",
        "once per run, beyond %s" % REFERENCE))
    for case in cases:
        small = strace_counts(args.check, case, args.threads, SMALL)
        large = strace_counts(args.check, case, args.threads, LARGE)
        print("  %-22s %9d %9d  %-28s %s" % (
            case, sum(small.values()), sum(large.values()),
            describe(small, large, extra_ops) or "none",
            describe(reference, small, 0) or "none"))


def describe(before, after, per):
    """The calls whose counts differ between two runs, as "name +k"; with
    per, also the difference per operation when it is more than timing
    noise (a futex in pthread_join may or may not wait: +-1 or 2)."""
    parts = []
    for name in sorted(set(before) | set(after)):
        diff = after.get(name, 0) - before.get(name, 0)
        if diff == 0:
            continue
        text = "%s %+d" % (name, diff)
        if per and abs(diff) > 2:
            text += " (%.2g/op)" % (diff / per)
        parts.append(text)
    return ", ".join(parts)

if __name__ == "__main__":
    main()

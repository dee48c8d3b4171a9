#!/usr/bin/env python3
"""bench/syscalls.py - system calls per operation, for every benchmark case.

    python3 bench/syscalls.py PATH/TO/circuits-bench-check [--threads T]

Runs circuits-bench-check once per case under `strace -f -c` with a small
and a large number of operations per thread (SMALL and LARGE below).  The
program does the same setup, thread start and teardown whatever the count,
so a system call made by the operations themselves shows up as a count that
grows with the operations; one made once (thread start, shared-memory
setup) does not.  Prints, per case, the total system calls of both runs and
each system call whose count grew, with the extra calls per operation.

The control_syscall case (one getppid per operation) shows the method sees a
per-operation system call; the mutex baseline shows what a contended mutex
costs (futex).  Standard library only; needs strace.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

SMALL = 1000
LARGE = 1000000

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
    print("System calls under strace -f -c, %d threads, %d vs %d operations"
          " per thread" % (args.threads, SMALL, LARGE))
    print("  %-24s %9s %9s  %s" % ("case", "calls@1e3", "calls@1e6",
                                  "grew with operations (extra per op)"))
    for case in cases:
        small = strace_counts(args.check, case, args.threads, SMALL)
        large = strace_counts(args.check, case, args.threads, LARGE)
        grew, jitter = [], 0
        for name in sorted(set(small) | set(large)):
            extra = large.get(name, 0) - small.get(name, 0)
            # A handful of calls can differ between two runs for reasons
            # unrelated to the operations (a futex wait in pthread_join
            # depends on timing); one call per operation adds ~2e6.
            if extra > 100:
                grew.append("%s +%d (%.3g/op)" % (name, extra,
                                                  extra / extra_ops))
            else:
                jitter += abs(extra)
        text = ", ".join(grew) if grew else "none"
        if jitter:
            text += " (other calls differ by %d in all)" % jitter
        print("  %-24s %9d %9d  %s" % (
            case, sum(small.values()), sum(large.values()), text))


if __name__ == "__main__":
    main()

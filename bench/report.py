#!/usr/bin/env python3
"""bench/report.py - ratio table and plot from one circuits-bench JSON file.

    python3 bench/report.py RESULTS.json [--plot OUT.png|OUT.svg]

Prints the machine, the issue's targets with the measured ratios, a summary
(median ns/op of every case at every thread count, against faa_shared), and
one table per variant (tight loop, think time): every case at every thread count
with min / median / max ns per operation across the repetitions, and its
median against bare shared fetch-and-add (faa_shared) and against the
mutex-based circuit (mutex_circuit) at the same thread count and variant.

ns/op is Google Benchmark's real time: the wall time of a run divided by the
operations of all its threads, i.e. the inverse of the aggregate
throughput.  A ratio below 1 is faster than the baseline.

Clean repetitions.  On a shared machine another process sometimes takes a
core in the middle of a repetition; two threads that take turns on one core
do not contend, so such a repetition reports too little contention (and too
much time for one thread).  circuits-bench records how long its threads
waited for a CPU while runnable during each run (schedstat's run delay,
"waited_ns"; time asleep in a futex is not included).  Where a case has at
most as many threads as the machine has cores, a repetition is clean when
its threads waited less than CLEAN_WAIT of the run, and the statistics use
the clean repetitions only (the "clean" column says how many there were;
with none, all are used and the count is marked "!").  With more threads
than cores, waiting for a CPU is the point, and every repetition counts.

Only ratios measured in the same run mean anything on a shared machine; the
absolute numbers move with whatever else the host runs.  Standard library
only.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# A repetition is clean when its threads waited for a CPU less than this
# fraction of the run.
CLEAN_WAIT = 0.02

FAA = "faa_shared"
MUTEX = "mutex_circuit"
SPIN = "spin_circuit"
SHORT = "circuit_short"
POLL = "breaking_broken_poll"
LOAD = "plain_load"
FLOOR = "per_thread_faa"

# Each target: description, case, baseline, threads, kind, limit.  "time"
# targets compare case time / baseline time (at most limit); "throughput"
# targets compare baseline time / case time (at least limit).
TARGETS = [
    ("uncontended short() <= 1.3x bare FAA", SHORT, FAA, 1, "time", 1.3),
    ("2-thread short() throughput >= 0.8x bare shared FAA", SHORT, FAA, 2,
     "throughput", 0.8),
    ("2-thread short() throughput >= 3x mutex design", SHORT, MUTEX, 2,
     "throughput", 3.0),
    ("2-thread short() throughput >= 2x spinlock design", SHORT, SPIN, 2,
     "throughput", 2.0),
    ("broken poll <= 1.5x plain load", POLL, LOAD, 1, "time", 1.5),
]


class Report:
    """The repetitions of one JSON file, by (case, think, threads)."""

    def __init__(self, path):
        with open(path) as f:
            doc = json.load(f)
        self.ctx = doc.get("context", {})
        self.cores = int(self.ctx.get("num_cpus") or os.cpu_count() or 1)
        self.samples = {}
        families = {}
        for b in doc.get("benchmarks", []):
            if (b.get("run_type", "iteration") != "iteration"
                    or "error_occurred" in b):
                continue
            name = b.get("run_name", b["name"]).split("/")[0]
            think = name.endswith("+think")
            case = name[: -len("+think")] if think else name
            scale = UNIT_NS[b.get("time_unit", "ns")]
            key = (case, think, int(b.get("threads", 1)))
            # real_time is the mean wall time of the threads divided by
            # the iterations of all of them.
            wall = b["real_time"] * scale * b["iterations"]
            waited = b.get("waited_ns", -1.0)
            self.samples.setdefault(key, []).append({
                "real": b["real_time"] * scale,
                "cpu": b["cpu_time"] * scale,
                "waited": (waited / (key[2] * wall)
                           if waited >= 0 and wall > 0 else 0.0),
            })
            families.setdefault(case, b.get("family_index", len(families)))
        # Repetitions ran interleaved; list cases in registration order.
        self.order = sorted(families, key=lambda c: families[c])
        self.threads = sorted({k[2] for k in self.samples})
        self.reps = max((len(v) for v in self.samples.values()), default=0)

    def used(self, case, think, threads):
        """(times in ns of the repetitions the statistics use, number of
        clean repetitions or None when every repetition counts)."""
        samples = self.samples.get((case, think, threads), [])
        if threads > self.cores:
            return [s["real"] for s in samples], None
        clean = [s["real"] for s in samples if s["waited"] < CLEAN_WAIT]
        return (clean or [s["real"] for s in samples]), len(clean)

    def median(self, case, think, threads):
        times, _ = self.used(case, think, threads)
        return statistics.median(times) if times else None

    def fastest(self, case, think, threads):
        times, _ = self.used(case, think, threads)
        return min(times) if times else None

    def cores_busy(self, case, think, threads):
        """Median over clean repetitions of CPU time / wall time: how many
        cores the threads kept busy (2 when two threads ran throughout)."""
        samples = self.samples.get((case, think, threads), [])
        clean = [s for s in samples if s["waited"] < CLEAN_WAIT] or samples
        if not clean:
            return None
        return statistics.median(s["cpu"] / s["real"] for s in clean)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fmt_ns(value):
    if value is None:
        return "-"
    if value >= 100:
        return "%.0f" % value
    if value >= 10:
        return "%.1f" % value
    return "%.2f" % value


def fmt_ratio(value):
    return "-" if value is None else "%.2f" % value


def print_machine(r, out):
    ctx = r.ctx
    print("Machine: %s, %d cores (/proc/cpuinfo, os.cpu_count), %s MHz"
          " reported" % (cpu_model(), os.cpu_count() or 0,
                         ctx.get("mhz_per_cpu", "?")), file=out)
    print("Run:     %s on %s, load average at start %s"
          % (ctx.get("date", "?"), ctx.get("host_name", "?"),
             ", ".join("%.2f" % v for v in ctx.get("load_avg", []))),
          file=out)
    print("Build:   %s; Google Benchmark library built as %s"
          % (ctx.get("circuits_build", "?"),
             ctx.get("library_build_type", "?")), file=out)
    think_ns = ctx.get("think_ns")
    print("Method:  %d repetitions per case, interleaved; think time %s ns"
          " (%s dependent multiply-adds)"
          % (r.reps, "%.0f" % float(think_ns) if think_ns else "?",
             ctx.get("think_steps", "?")), file=out)
    # Two threads each on its own core keep two cores busy; less in clean
    # repetitions means the host ran the two vCPUs on less than two
    # physical cores' worth of time.
    busy = r.cores_busy(FLOOR, False, 2)
    if busy is not None:
        print("Cores:   per_thread_faa at 2 threads kept %.2f cores busy"
              " (clean repetitions)%s" % (
                  busy, "" if busy >= 1.8 else
                  "  <- under 2: the 2-thread figures understate contention"),
              file=out)
    print(file=out)


def print_targets(r, out):
    print("Targets (tight loop, clean repetitions; ratio of medians, and of"
          " the fastest repetitions)", file=out)
    for text, case, base, threads, kind, limit in TARGETS:
        med = (r.median(case, False, threads), r.median(base, False, threads))
        best = (r.fastest(case, False, threads),
                r.fastest(base, False, threads))
        if None in med or None in best:
            print("  %-52s not measured" % text, file=out)
            continue
        if kind == "time":
            ratio, ratio_best = med[0] / med[1], best[0] / best[1]
            met = ratio <= limit
        else:
            ratio, ratio_best = med[1] / med[0], best[1] / best[0]
            met = ratio >= limit
        clean = [r.used(c, False, threads)[1] for c in (case, base)]
        print("  %-52s %5.2fx (fastest %5.2fx)  %-6s  clean %s/%s, %s/%s"
              % (text, ratio, ratio_best, "met" if met else "MISSED",
                 clean[0], r.reps, clean[1], r.reps), file=out)
    print(file=out)


def print_table(r, think, out):
    title = ("With about 100 ns of dependent work between operations"
             if think else "Tight loop")
    print("%s: ns per operation (aggregate over threads); min / median /"
          " max over the clean repetitions; x = median ratio" % title,
          file=out)
    header = "  %-22s %3s %5s %8s %8s %8s %7s %7s" % (
        "case", "thr", "clean", "min", "median", "max", "xFAA", "xmutex")
    print(header, file=out)
    print("  " + "-" * (len(header) - 2), file=out)
    for case in r.order:
        first = True
        for threads in r.threads:
            times, clean = r.used(case, think, threads)
            if not times:
                continue
            med = statistics.median(times)
            faa = r.median(FAA, think, threads)
            mutex = r.median(MUTEX, think, threads)
            print("  %-22s %3d %5s %8s %8s %8s %7s %7s" % (
                case if first else "", threads,
                "all" if clean is None else ("%d!" % clean if clean == 0
                                             else str(clean)),
                fmt_ns(min(times)), fmt_ns(med), fmt_ns(max(times)),
                fmt_ratio(med / faa if faa else None),
                fmt_ratio(med / mutex if mutex else None)), file=out)
            first = False
    print(file=out)


def print_summary(r, think, out):
    title = ("With about 100 ns of think time" if think else "Tight loop")
    print("%s: median ns per operation (and x faa_shared at the same thread"
          " count)" % title, file=out)
    print("  %-22s" % "case" + "".join(
        "%16s" % ("%d thread%s" % (t, "" if t == 1 else "s"))
        for t in r.threads), file=out)
    for case in r.order:
        cells = []
        for threads in r.threads:
            med = r.median(case, think, threads)
            faa = r.median(FAA, think, threads)
            cells.append("%16s" % ("-" if med is None else "%s (%sx)" % (
                fmt_ns(med), fmt_ratio(med / faa if faa else None))))
        print("  %-22s" % case + "".join(cells), file=out)
    print(file=out)


# Our short() stands out; the baselines get distinct, readable colours.
COLOURS = {
    SHORT: "#7b2cbf", FAA: "#1b9e77", "faa_call": "#66a61e",
    "cas_loop": "#d95f02", MUTEX: "#c0392b", SPIN: "#1f78b4",
    FLOOR: "#7f7f7f", LOAD: "#000000",
}
SPARE = ["#e7298a", "#a6761d", "#e6ab02", "#666666"]


def line_style(case, k):
    colour = COLOURS.get(case, SPARE[k % len(SPARE)])
    width = 4 if case == SHORT else 2
    dash = " dt 2" if case in (FLOOR, LOAD) else ""
    return "lw %d lc rgb '%s'%s" % (width, colour, dash)


def plot(r, path):
    """Draws ns/op against threads for the plotted cases, tight and with
    think time side by side, with gnuplot."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        print("gnuplot not found; no plot drawn", file=sys.stderr)
        return False
    plotted = [c for c in r.ctx.get("plotted_cases", "").split(",") if c]
    plotted = [c for c in (plotted or r.order)
               if any(k[0] == c for k in r.samples)]
    svg = path.endswith(".svg")
    think_ns = r.ctx.get("think_ns")
    script = [
        ("set terminal svg size 1400,640 dynamic font 'DejaVu Sans,13'"
         if svg else
         "set terminal pngcairo size 1400,640 font 'DejaVu Sans,11'"),
        "set output '%s'" % path,
        "set multiplot layout 1,2 title \"circuits: ns per operation"
        " against threads (aggregate over threads; lower is better;"
        " bars: min-max of clean repetitions)\\n%s, %s cores, %s\"" % (
            cpu_model(), os.cpu_count() or "?",
            r.ctx.get("date", "")[:16].replace("T", " ")),
        "set logscale xy 2",
        "set xtics (1, 2, 4, 8)",
        "set xrange [0.8:10]",
        "set xlabel 'threads (2 cores: 4 and 8 oversubscribe)'",
        "set ylabel 'ns per operation'",
        "set grid",
        "set key outside bottom center horizontal maxrows 2 spacing 1.2",
        "set bmargin 8",
        "set format y '%g'",
    ]
    variants = [t for t in (False, True)
                if any(k[1] == t for k in r.samples)]
    script[2] = script[2].replace(
        "set multiplot layout 1,2", "set multiplot layout 1,%d" % len(variants))
    with tempfile.TemporaryDirectory() as tmp:
        for think in variants:
            script.append("set title '%s'" % (
                "with about %s ns of think time between operations"
                % ("%.0f" % float(think_ns) if think_ns else "100")
                if think else "tight loop"))
            parts = []
            for k, case in enumerate(plotted):
                rows = []
                for threads in r.threads:
                    times, _ = r.used(case, think, threads)
                    if times:
                        rows.append("%d %g %g %g\n" % (
                            threads, statistics.median(times), min(times),
                            max(times)))
                if not rows:
                    continue
                data = os.path.join(tmp, "%s-%d.dat" % (case, think))
                with open(data, "w") as f:
                    f.writelines(rows)
                parts.append(
                    "'%s' using 1:2:3:4 with yerrorlines %s pt %d"
                    " title '%s'" % (data, line_style(case, k), k + 4,
                                     case.replace("_", "\\_")))
            script.append("plot " + ", ".join(parts))
        script.append("unset multiplot")
        result = subprocess.run([gnuplot], input="\n".join(script) + "\n",
                                text=True, capture_output=True)
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json")
    parser.add_argument("--plot", help="PNG or SVG file to draw")
    args = parser.parse_args()

    r = Report(args.json)
    if not r.samples:
        sys.exit("%s: no benchmark runs" % args.json)
    out = sys.stdout
    print_machine(r, out)
    print_targets(r, out)
    print_summary(r, False, out)
    print_summary(r, True, out)
    print_table(r, False, out)
    print_table(r, True, out)
    if args.plot and plot(r, args.plot):
        print("Plot: %s" % args.plot, file=out)


if __name__ == "__main__":
    main()

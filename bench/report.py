#!/usr/bin/env python3
"""bench/report.py - ratio table and plot from one circuits-bench JSON file.

    python3 bench/report.py RESULTS.json [--plot OUT.png|OUT.svg]

Prints the machine, the issue's targets with the measured ratios, and one
table per variant (tight loop, think time): every case at every thread count
with min / median / max ns per operation across the repetitions, and its
median against bare shared fetch-and-add (faa_shared) and against the
mutex-based circuit (mutex_circuit) at the same thread count and variant.

ns/op is Google Benchmark's real time: the wall time of a run divided by the
operations of all its threads, i.e. the inverse of the aggregate
throughput.  A ratio below 1 is faster than the baseline.

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


def load_runs(path):
    """Returns (context, runs, order): runs maps (case, think, threads) to a
    list of (real_ns, cpu_ns), one per repetition; order lists the cases in
    the order the binary registered them."""
    with open(path) as f:
        doc = json.load(f)
    runs, families = {}, {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or "error_occurred" in b:
            continue
        name = b.get("run_name", b["name"]).split("/")[0]
        think = name.endswith("+think")
        case = name[: -len("+think")] if think else name
        scale = UNIT_NS[b.get("time_unit", "ns")]
        key = (case, think, int(b.get("threads", 1)))
        runs.setdefault(key, []).append(
            (b["real_time"] * scale, b["cpu_time"] * scale))
        families.setdefault(case, b.get("family_index", len(families)))
    # Repetitions ran interleaved; list cases in registration order.
    order = sorted(families, key=lambda c: families[c])
    return doc.get("context", {}), runs, order


def median_ns(runs, case, think, threads):
    samples = runs.get((case, think, threads))
    if not samples:
        return None
    return statistics.median(real for real, _ in samples)


def min_ns(runs, case, think, threads):
    samples = runs.get((case, think, threads))
    if not samples:
        return None
    return min(real for real, _ in samples)


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


def print_machine(ctx, runs, out):
    print("Machine: %s, %d cores (os.cpu_count), %s MHz reported"
          % (cpu_model(), os.cpu_count() or 0, ctx.get("mhz_per_cpu", "?")),
          file=out)
    print("Run:     %s on %s, load average at start %s"
          % (ctx.get("date", "?"), ctx.get("host_name", "?"),
             ", ".join("%.2f" % v for v in ctx.get("load_avg", []))),
          file=out)
    print("Build:   %s; Google Benchmark library built as %s"
          % (ctx.get("circuits_build", "?"),
             ctx.get("library_build_type", "?")), file=out)
    reps = max((len(v) for v in runs.values()), default=0)
    think_ns = ctx.get("think_ns")
    print("Method:  %d repetitions per case, interleaved; think time %s ns"
          " (%s dependent multiply-adds)"
          % (reps, "%.0f" % float(think_ns) if think_ns else "?",
             ctx.get("think_steps", "?")), file=out)
    # With two threads each on its own core, the CPU time of both threads
    # is twice the wall time.  Less means the host gave them less than two
    # cores (other load), and the 2-thread contention figures understate
    # contention.
    samples = runs.get((FLOOR, False, 2))
    if samples:
        cores = statistics.median(cpu / real for real, cpu in samples)
        note = "" if cores >= 1.8 else (
            "  <- under 2: other load shared the cores; 2-thread figures"
            " measured less contention than a quiet machine would")
        print("Cores:   the 2-thread runs kept %.2f cores busy%s"
              % (cores, note), file=out)
    print(file=out)


def print_targets(runs, out):
    print("Targets (tight loop; ratio of medians, and of the fastest"
          " repetitions)", file=out)
    for text, case, base, threads, kind, limit in TARGETS:
        med = (median_ns(runs, case, False, threads),
               median_ns(runs, base, False, threads))
        best = (min_ns(runs, case, False, threads),
                min_ns(runs, base, False, threads))
        if None in med or None in best:
            print("  %-52s not measured" % text, file=out)
            continue
        if kind == "time":
            ratio, ratio_best = med[0] / med[1], best[0] / best[1]
            met = ratio <= limit
        else:
            ratio, ratio_best = med[1] / med[0], best[1] / best[0]
            met = ratio >= limit
        print("  %-52s %5.2fx (fastest %5.2fx)  %s"
              % (text, ratio, ratio_best, "met" if met else "MISSED"),
              file=out)
    print(file=out)


def print_table(runs, order, think, out):
    threads_all = sorted({t for (_, th, t) in runs if th == think})
    title = ("With ~100 ns of dependent work between operations"
             if think else "Tight loop")
    print("%s: ns per operation (aggregate over threads), min / median /"
          " max; x = median ratio" % title, file=out)
    header = "  %-22s %3s %8s %8s %8s %7s %7s" % (
        "case", "thr", "min", "median", "max", "xFAA", "xmutex")
    print(header, file=out)
    print("  " + "-" * (len(header) - 2), file=out)
    for case in order:
        for threads in threads_all:
            samples = runs.get((case, think, threads))
            if not samples:
                continue
            reals = [real for real, _ in samples]
            med = statistics.median(reals)
            faa = median_ns(runs, FAA, think, threads)
            mutex = median_ns(runs, MUTEX, think, threads)
            print("  %-22s %3d %8s %8s %8s %7s %7s" % (
                case if threads == threads_all[0] else "", threads,
                fmt_ns(min(reals)), fmt_ns(med), fmt_ns(max(reals)),
                fmt_ratio(med / faa if faa else None),
                fmt_ratio(med / mutex if mutex else None)), file=out)
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


def plot(runs, ctx, order, path):
    """Draws ns/op against threads for the plotted cases, tight and with
    think time side by side, with gnuplot."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        print("gnuplot not found; no plot drawn", file=sys.stderr)
        return False
    plotted = [c for c in ctx.get("plotted_cases", "").split(",") if c]
    plotted = [c for c in (plotted or order)
               if any(k[0] == c for k in runs)]
    svg = path.endswith(".svg")
    with tempfile.TemporaryDirectory() as tmp:
        blocks = []
        for think in (False, True):
            for case in plotted:
                data = os.path.join(tmp, "%s-%d.dat" % (case, think))
                with open(data, "w") as f:
                    for threads in sorted({k[2] for k in runs
                                           if k[0] == case and k[1] == think}):
                        reals = [r for r, _ in runs[(case, think, threads)]]
                        f.write("%d %g %g %g\n" % (
                            threads, statistics.median(reals),
                            min(reals), max(reals)))
                blocks.append((think, case, data))
        script = [
            ("set terminal svg size 1400,620 dynamic font 'DejaVu Sans,13'"
             if svg else
             "set terminal pngcairo size 1400,620 font 'DejaVu Sans,11'"),
            "set output '%s'" % path,
            "set multiplot layout 1,2 title \"circuits: ns per operation"
            " against threads (aggregate; lower is better; bars: min-max"
            " of repetitions)\\n%s, %s cores, %s\"" % (
                cpu_model(), os.cpu_count() or "?",
                ctx.get("date", "")[:10]),
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
        think_ns = ctx.get("think_ns")
        for think in (False, True):
            script.append("set title '%s'" % (
                "with about %s ns of think time between operations"
                % ("%.0f" % float(think_ns) if think_ns else "100")
                if think else "tight loop"))
            parts = []
            for k, (th, case, data) in enumerate(
                    b for b in blocks if b[0] == think):
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

    ctx, runs, order = load_runs(args.json)
    if not runs:
        sys.exit("%s: no benchmark runs" % args.json)
    out = sys.stdout
    print_machine(ctx, runs, out)
    print_targets(runs, out)
    print_table(runs, order, False, out)
    print_table(runs, order, True, out)
    if args.plot:
        if plot(runs, ctx, order, args.plot):
            print("Plot: %s" % args.plot, file=out)


if __name__ == "__main__":
    main()

// shim.cc - registers the C cases (cases.c, baselines.c) with Google
// Benchmark.  The only C++ in the project; nothing of it reaches the library.
//
// Each case is registered twice, tight and with think time ("+think"), each
// at 1, 2, 4 and 8 threads on one shared object.  Times are wall-clock
// (UseRealTime): with T threads Google Benchmark reports the wall time of
// the run divided by the operations of all threads, i.e. the inverse of the
// aggregate throughput, which is what the ratios compare.
//
// The operations run in C, in batches of kBatch inside one call, so the
// harness costs one call per batch, not per operation.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench.h"

#ifndef BENCH_BUILD_INFO
#define BENCH_BUILD_INFO "unknown"
#endif

namespace
{

constexpr uint64_t kBatch = 1000;

// The think period aimed at, in nanoseconds; the environment variable
// CIRCUITS_BENCH_THINK_NS overrides it.
constexpr double kThinkNs = 100.0;

// Nanoseconds this thread has spent runnable but waiting for a CPU (the
// second field of /proc/thread-self/schedstat), or -1 if unknown.
double
waited_ns()
{
	std::FILE *f = std::fopen("/proc/thread-self/schedstat", "r");
	unsigned long long on_cpu = 0, waited = 0;
	int fields = 0;

	if (f != nullptr) {
		fields = std::fscanf(f, "%llu %llu", &on_cpu, &waited);
		std::fclose(f);
	}
	return fields == 2 ? static_cast<double>(waited) : -1.0;
}

void
run_case(benchmark::State &state, const bench_case *c, bool think)
{
	const int thread = state.thread_index();
	double before, after;

	// Thread 0 builds the objects before the loop; the others wait at the
	// barrier inside the first KeepRunningBatch() until it is done, and
	// thread 0 passes the barrier at the end of the loop only after every
	// thread finished, so its teardown sees the final state.
	if (thread == 0 && bench_setup(c, state.threads()) != 0) {
		std::fprintf(stderr, "%s: setup failed\n", c->name);
		std::abort();
	}
	// A thread that waited for a CPU during the run (another process had
	// it) did not contend for the whole run.  The time it waited, read
	// outside the timed loop and summed over the run's threads, lets
	// report.py tell clean repetitions from disturbed ones on a shared
	// machine.  Time asleep in a futex is not counted: it is the mutex
	// baseline's own cost.
	before = waited_ns();
	while (state.KeepRunningBatch(kBatch))
		c->body(&bench_the_run, thread, kBatch, think);
	after = waited_ns();
	state.counters["waited_ns"] =
		before < 0.0 || after < 0.0 ? -1.0 : after - before;
	if (thread == 0 && bench_teardown(c) != 0) {
		std::fprintf(stderr, "%s: the run broke its invariant\n",
			     c->name);
		std::abort();
	}
	state.SetItemsProcessed(state.iterations());
}

void
register_cases(const bench_case *cases, size_t count)
{
	for (size_t k = 0; k < count; k++) {
		for (bool think : {false, true}) {
			std::string name = cases[k].name;

			if (think)
				name += "+think";
			benchmark::RegisterBenchmark(name.c_str(), run_case,
						     &cases[k], think)
				->Threads(1)
				->Threads(2)
				->Threads(4)
				->Threads(8)
				->UseRealTime();
		}
	}
}

// Appends to *list, comma-separated, the names of the cases whose flags
// include `flag` (all of them when flag is 0).  report.py reads these lists
// from the JSON's context.
void
list_cases(const bench_case *cases, size_t count, unsigned flag,
	   std::string *list)
{
	for (size_t k = 0; k < count; k++) {
		if (flag != 0 && (cases[k].flags & flag) == 0)
			continue;
		if (!list->empty())
			*list += ",";
		*list += cases[k].name;
	}
}

} // namespace

int
main(int argc, char **argv)
{
	const char *think_env = std::getenv("CIRCUITS_BENCH_THINK_NS");
	const double think_target =
		think_env != nullptr && std::atof(think_env) > 0.0
			? std::atof(think_env)
			: kThinkNs;
	double think_ns = 0.0;

	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;

	bench_the_run.think_steps =
		bench_think_calibrate(think_target, &think_ns);
	benchmark::AddCustomContext("think_steps",
				    std::to_string(bench_the_run.think_steps));
	benchmark::AddCustomContext("think_ns", std::to_string(think_ns));
	benchmark::AddCustomContext("circuits_build", BENCH_BUILD_INFO);

	std::string plotted, baselines;
	list_cases(bench_library_cases, bench_library_case_count, BENCH_PLOT,
		   &plotted);
	list_cases(bench_baseline_cases, bench_baseline_case_count, BENCH_PLOT,
		   &plotted);
	list_cases(bench_baseline_cases, bench_baseline_case_count, 0,
		   &baselines);
	benchmark::AddCustomContext("plotted_cases", plotted);
	benchmark::AddCustomContext("baseline_cases", baselines);

	register_cases(bench_library_cases, bench_library_case_count);
	register_cases(bench_baseline_cases, bench_baseline_case_count);
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}

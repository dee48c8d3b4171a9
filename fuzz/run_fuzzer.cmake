# run_fuzzer.cmake - one bounded libFuzzer run, for CTest (label fuzz).
#
#   cmake -DFUZZER=<binary> -DCORPUS=<seed dir> -DWORK_DIR=<scratch dir>
#         -DSECONDS=<n> -P run_fuzzer.cmake
#
# The seeds are copied into WORK_DIR first: libFuzzer adds every input that
# finds new coverage to the corpus directory it is given, and the committed
# corpus must never change under a test run.  Any finding (crash, sanitizer
# report, failed check, leak, timeout, out-of-memory) makes libFuzzer exit
# non-zero and leaves the input in WORK_DIR/artifacts; this script then fails
# and says how to reproduce it.
foreach(var FUZZER CORPUS WORK_DIR SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/corpus ${WORK_DIR}/artifacts)
file(GLOB seeds ${CORPUS}/*)
if(NOT seeds)
  message(FATAL_ERROR "run_fuzzer.cmake: no seeds in ${CORPUS}")
endif()
file(COPY ${seeds} DESTINATION ${WORK_DIR}/corpus)

# -timeout: one input running this long is a finding (a hang).
execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -timeout=20
          -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix=${WORK_DIR}/artifacts/ ${WORK_DIR}/corpus
  RESULT_VARIABLE rc)

if(NOT rc EQUAL 0)
  file(GLOB findings ${WORK_DIR}/artifacts/*)
  string(REPLACE ";" "\n  " findings "${findings}")
  message(FATAL_ERROR
    "${FUZZER} exited with ${rc} after a run of at most ${SECONDS} s.\n"
    "Findings:\n  ${findings}\n"
    "Reproduce with: ${FUZZER} <finding>")
endif()
file(REMOVE_RECURSE ${WORK_DIR}/corpus)
message(STATUS "${FUZZER}: ${SECONDS} s clean")

# cmake -DROOT=<source dir> -P check_readme_examples.cmake
#
# The README shows whole example programs.  Each is introduced by a line
# "<!-- example: examples/NAME.c -->" and must be, byte for byte, the file of
# that name, which CMake builds and CTest runs: so the README's examples are
# known to compile and to work.  Fails, naming the example, on any difference.
file(READ "${ROOT}/README.md" readme)
set(marker_regex "<!-- example: ([^ ]+) -->\n```c\n")
string(REGEX MATCHALL "<!-- example: [^ ]+ -->" markers "${readme}")
list(LENGTH markers count)
if(count EQUAL 0)
  message(FATAL_ERROR "README.md shows no example marked for checking")
endif()
foreach(marker IN LISTS markers)
  string(REGEX REPLACE "<!-- example: ([^ ]+) -->" "\\1" path "${marker}")
  string(FIND "${readme}" "${marker}\n```c\n" start)
  if(start LESS 0)
    message(FATAL_ERROR "README.md: ${marker} is not followed by a ```c block")
  endif()
  string(LENGTH "${marker}\n```c\n" skip)
  math(EXPR start "${start} + ${skip}")
  string(SUBSTRING "${readme}" ${start} -1 rest)
  string(FIND "${rest}" "\n```\n" end)
  math(EXPR end "${end} + 1")
  string(SUBSTRING "${rest}" 0 ${end} shown)
  file(READ "${ROOT}/${path}" actual)
  if(NOT shown STREQUAL actual)
    message(FATAL_ERROR "README.md shows ${path}, but not as it is in the "
            "repository: copy the file into the README again")
  endif()
  message(STATUS "README example matches ${path}")
endforeach()
message(STATUS "${count} README examples match their files")

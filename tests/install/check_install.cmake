# check_install.cmake - installs circuits into scratch prefixes and builds a
# user's program against each, four ways: find_package() with the shared
# library and with the static one, and pkg-config shared and fully static
# (--static).  Each program must run and give the contract's answers
# (consumer/consumer.c), and must be linked the way it asked: a shared build
# needs libcircuits.so.0 at run time, a static one does not.
#
# Two prefixes: the build tree under test installed as it is (libdir lib),
# and the same sources configured with a Debian multiarch libdir
# (lib/x86_64-linux-gnu), where the .pc file is one folder deeper.  Fails on
# the first step that does not work, with that step's output.
#
#   cmake -DBUILD_DIR=<tree> -DSOURCE_DIR=<circuits sources>
#         -DWORK=<scratch> -DCONSUMER=<consumer dir> -DCC=<C compiler>
#         -P check_install.cmake
foreach(var BUILD_DIR SOURCE_DIR WORK CONSUMER CC)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_install.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}")
  endif()
  message(STATUS "${what}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

# Whether the program at path loads libcircuits.so at run time.
function(expect_linking what program shared)
  run("${what}: readelf" readelf -d ${program})
  string(FIND "${last_output}" "[libcircuits.so.0]" at)
  if(shared AND at LESS 0)
    message(FATAL_ERROR "${what}: does not need libcircuits.so.0:\n"
            "${last_output}")
  elseif(NOT shared AND NOT at LESS 0)
    message(FATAL_ERROR "${what}: linked shared, not static:\n"
            "${last_output}")
  endif()
endfunction()

function(check_prefix prefix tag)
  foreach(target circuits::circuits circuits::circuits_static)
    string(REPLACE "::" "_" name ${target})
    set(tree ${WORK}/${tag}-${name})
    run("${tag}: configure with find_package, ${target}"
        ${CMAKE_COMMAND} -S ${CONSUMER} -B ${tree} -DCMAKE_C_COMPILER=${CC}
        -DCIRCUITS_PREFIX=${prefix} -DCIRCUITS_TARGET=${target})
    run("${tag}: build with ${target}" ${CMAKE_COMMAND} --build ${tree})
    run("${tag}: run the program linked with ${target}" ${tree}/consumer)
    if(target STREQUAL "circuits::circuits")
      expect_linking("${tag}, ${target}" ${tree}/consumer TRUE)
    else()
      expect_linking("${tag}, ${target}" ${tree}/consumer FALSE)
    endif()
  endforeach()

  file(GLOB_RECURSE pc_files ${prefix}/circuits.pc)
  list(LENGTH pc_files count)
  if(NOT count EQUAL 1)
    message(FATAL_ERROR "${tag}: expected one installed circuits.pc, "
            "found: ${pc_files}")
  endif()
  get_filename_component(pc_dir ${pc_files} DIRECTORY)
  get_filename_component(lib_dir ${pc_dir} DIRECTORY)
  foreach(mode shared static)
    set(pc_args --cflags --libs)
    set(ld_args)
    if(mode STREQUAL "static")
      list(APPEND pc_args --static)
      set(ld_args -static)
    endif()
    run("${tag}: pkg-config ${mode}" ${CMAKE_COMMAND} -E env
        PKG_CONFIG_PATH=${pc_dir} pkg-config ${pc_args} circuits)
    string(STRIP "${last_output}" flags)
    separate_arguments(flags UNIX_COMMAND "${flags}")
    # Every -I and -L must be a folder of this prefix that exists: a
    # circuits installed elsewhere must not be what the compiler finds.
    file(REAL_PATH ${prefix} real_prefix)
    set(seen "")
    foreach(flag IN LISTS flags)
      if(flag MATCHES "^-([IL])(.+)$")
        file(REAL_PATH ${CMAKE_MATCH_2} dir)
        string(FIND "${dir}/" "${real_prefix}/" at)
        if(NOT IS_DIRECTORY ${dir} OR NOT at EQUAL 0)
          message(FATAL_ERROR "${tag}: pkg-config's ${flag} is not a "
                  "folder of ${prefix}")
        endif()
        string(APPEND seen ${CMAKE_MATCH_1})
      endif()
    endforeach()
    if(NOT seen MATCHES "I" OR NOT seen MATCHES "L")
      message(FATAL_ERROR "${tag}: pkg-config gave no -I or no -L: "
              "${flags}")
    endif()
    set(program ${WORK}/${tag}-pkgconfig-${mode})
    run("${tag}: compile with pkg-config, ${mode}" ${CC}
        ${CONSUMER}/consumer.c ${flags} ${ld_args} -o ${program})
    # The shared build finds libcircuits.so.0 through LD_LIBRARY_PATH, as a
    # program would through the loader's path after a real install.
    run("${tag}: run the program built with pkg-config, ${mode}"
        ${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${lib_dir} ${program})
    if(mode STREQUAL "shared")
      expect_linking("${tag}, pkg-config ${mode}" ${program} TRUE)
    else()
      expect_linking("${tag}, pkg-config ${mode}" ${program} FALSE)
    endif()
  endforeach()
endfunction()

file(REMOVE_RECURSE ${WORK})

run("install the build tree" ${CMAKE_COMMAND} --install ${BUILD_DIR}
    --prefix ${WORK}/prefix)
check_prefix(${WORK}/prefix plain)

set(multiarch ${WORK}/multiarch-build)
run("configure with a multiarch libdir" ${CMAKE_COMMAND} -S ${SOURCE_DIR}
    -B ${multiarch} -DCMAKE_C_COMPILER=${CC} -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_INSTALL_PREFIX=${WORK}/prefix-multiarch
    -DCMAKE_INSTALL_LIBDIR=lib/x86_64-linux-gnu
    -DCIRCUITS_BUILD_TESTS=OFF -DCIRCUITS_BUILD_BENCH=OFF
    -DCIRCUITS_BUILD_EXAMPLES=OFF -DCIRCUITS_BUILD_FUZZ=OFF
    -DCIRCUITS_SANITIZER_VARIANTS=OFF)
run("build with a multiarch libdir" ${CMAKE_COMMAND} --build ${multiarch})
run("install with a multiarch libdir" ${CMAKE_COMMAND} --install ${multiarch})
check_prefix(${WORK}/prefix-multiarch multiarch)

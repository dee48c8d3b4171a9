# check_install.cmake - installs the build tree into a scratch prefix and
# builds a user's program against it, three ways: find_package() with the
# shared library, find_package() with the static one, and pkg-config (shared,
# then fully static with --static).  Each program must run and give the
# contract's answers (consumer/consumer.c).  Fails on the first step that
# does not work, with that step's output.
#
#   cmake -DBUILD_DIR=<tree> -DWORK=<scratch> -DSOURCE=<consumer dir>
#         -DCC=<C compiler> -P check_install.cmake
foreach(var BUILD_DIR WORK SOURCE CC)
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

file(REMOVE_RECURSE ${WORK})
set(prefix ${WORK}/prefix)
run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})

foreach(target circuits::circuits circuits::circuits_static)
  string(REPLACE "::" "_" tag ${target})
  set(tree ${WORK}/${tag})
  run("configure with find_package, ${target}"
      ${CMAKE_COMMAND} -S ${SOURCE} -B ${tree} -DCMAKE_C_COMPILER=${CC}
      -DCMAKE_PREFIX_PATH=${prefix} -DCIRCUITS_TARGET=${target})
  run("build with ${target}" ${CMAKE_COMMAND} --build ${tree})
  run("run the program linked with ${target}" ${tree}/consumer)
endforeach()

file(GLOB_RECURSE pc_files ${prefix}/circuits.pc)
list(LENGTH pc_files count)
if(NOT count EQUAL 1)
  message(FATAL_ERROR "expected one installed circuits.pc, found: ${pc_files}")
endif()
get_filename_component(pc_dir ${pc_files} DIRECTORY)
foreach(mode shared static)
  set(pc_args --cflags --libs)
  set(ld_args)
  if(mode STREQUAL "static")
    list(APPEND pc_args --static)
    set(ld_args -static)
  endif()
  run("pkg-config ${mode}" ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pc_dir}
      pkg-config ${pc_args} circuits)
  string(STRIP "${last_output}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  set(program ${WORK}/consumer-pkgconfig-${mode})
  run("compile with pkg-config, ${mode}" ${CC} ${SOURCE}/consumer.c ${flags}
      ${ld_args} -o ${program})
  # The shared build finds libcircuits.so.0 through LD_LIBRARY_PATH, as a
  # program would through the loader's path after a real install.
  get_filename_component(lib_dir ${pc_dir} DIRECTORY)
  run("run the program built with pkg-config, ${mode}"
      ${CMAKE_COMMAND} -E env LD_LIBRARY_PATH=${lib_dir} ${program})
endforeach()

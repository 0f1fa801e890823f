# Finds every library sedge needs; a missing one stops configure naming the Debian package.
find_package(PkgConfig REQUIRED)

function(sedge_require_pkg prefix module debian_package)
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${prefix}_FOUND)
    message(FATAL_ERROR "sedge needs ${module}: apt-get install ${debian_package} "
                        "(scripts/install-deps.sh installs everything)")
  endif()
endfunction()

function(sedge_require_program var program debian_package)
  find_program(${var} ${program})
  if(NOT ${var})
    message(FATAL_ERROR "sedge needs the program ${program}: apt-get install ${debian_package} "
                        "(scripts/install-deps.sh installs everything)")
  endif()
endfunction()

sedge_require_pkg(LIBBPF libbpf libbpf-dev)
sedge_require_pkg(LIBMNL libmnl libmnl-dev)
sedge_require_pkg(LIBNL3 libnl-3.0 libnl-3-dev)
sedge_require_pkg(LIBNLROUTE libnl-route-3.0 libnl-route-3-dev)
sedge_require_pkg(TSS2_ESYS tss2-esys libtss2-dev)
sedge_require_pkg(TSS2_MU tss2-mu libtss2-dev)
sedge_require_pkg(TSS2_RC tss2-rc libtss2-dev)
sedge_require_pkg(TSS2_TCTILDR tss2-tctildr libtss2-dev)
sedge_require_pkg(LIBSYSTEMD libsystemd libsystemd-dev)
sedge_require_pkg(SQLITE3 sqlite3 libsqlite3-dev)

find_package(OpenSSL 3.0 QUIET)
if(NOT OpenSSL_FOUND)
  message(FATAL_ERROR "sedge needs OpenSSL 3: apt-get install libssl-dev "
                      "(scripts/install-deps.sh installs everything)")
endif()

find_package(GTest QUIET)
if(NOT GTest_FOUND)
  message(FATAL_ERROR "sedge needs GoogleTest: apt-get install libgtest-dev libgmock-dev "
                      "(scripts/install-deps.sh installs everything)")
endif()

find_package(Threads REQUIRED)

# JSON for the D-Bus Describe() output and the onboarding protocol.
find_package(nlohmann_json 3.10 QUIET)
if(NOT nlohmann_json_FOUND)
  message(FATAL_ERROR "sedge needs nlohmann-json: apt-get install nlohmann-json3-dev "
                      "(scripts/install-deps.sh installs everything)")
endif()

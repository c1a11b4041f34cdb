# Libraries from Debian's packages: SQLite, libev, libpcap (pkg-config or plain lookup).
find_package(PkgConfig REQUIRED)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(PCAP REQUIRED IMPORTED_TARGET libpcap)
# PCRE2 (with JIT) for administrators' custom log patterns; libsystemd for the journal.
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)

# libev ships no pkg-config file on Debian.
find_path(LIBEV_INCLUDE_DIR ev.h REQUIRED)
find_library(LIBEV_LIBRARY ev REQUIRED)
add_library(libev::libev UNKNOWN IMPORTED)
set_target_properties(libev::libev PROPERTIES IMPORTED_LOCATION ${LIBEV_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${LIBEV_INCLUDE_DIR})

if(POPAUTH_TESTS)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
endif()

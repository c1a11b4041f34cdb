# Libraries from Debian's packages: SQLite, libev, libpcap (pkg-config or plain lookup).
# A missing one stops the configuration with one line naming the Debian package that
# provides it (scripts/install-deps installs them all).
find_package(PkgConfig REQUIRED)

# popauth_require_module - the pkg-config module NAME as target PkgConfig::VAR, or a
# fatal error naming the Debian package PKG
function(popauth_require_module var name pkg)
  pkg_check_modules(${var} QUIET IMPORTED_TARGET GLOBAL ${name})
  if(NOT ${var}_FOUND)
    message(FATAL_ERROR "${pkg} is not installed (needed for ${name}; scripts/install-deps installs it)")
  endif()
endfunction()

popauth_require_module(SQLITE3 sqlite3 libsqlite3-dev)
popauth_require_module(PCAP libpcap libpcap-dev)
# PCRE2 (with JIT) for administrators' custom log patterns; libsystemd for the journal.
popauth_require_module(PCRE2 libpcre2-8 libpcre2-dev)
popauth_require_module(SYSTEMD libsystemd libsystemd-dev)
# libmicrohttpd serves /metrics (metrics_listen): a maintained HTTP server rather than a
# hand-written request parser facing the network.
popauth_require_module(MHD libmicrohttpd libmicrohttpd-dev)
# Jansson reads the JSON of Dovecot's auth policy client (dovecot_policy_listen): a
# maintained parser that refuses duplicate keys, rather than one of our own.
popauth_require_module(JANSSON jansson libjansson-dev)
# hiredis speaks to Redis for a store that several hosts share (database = redis://...):
# Redis's own client library rather than a protocol parser of our own.
popauth_require_module(HIREDIS hiredis libhiredis-dev)

# libev ships no pkg-config file on Debian.
find_path(LIBEV_INCLUDE_DIR ev.h)
find_library(LIBEV_LIBRARY ev)
if(NOT LIBEV_INCLUDE_DIR OR NOT LIBEV_LIBRARY)
  message(FATAL_ERROR "libev-dev is not installed (needed for ev.h; scripts/install-deps installs it)")
endif()
add_library(libev::libev UNKNOWN IMPORTED)
set_target_properties(libev::libev PROPERTIES IMPORTED_LOCATION ${LIBEV_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${LIBEV_INCLUDE_DIR})

if(POPAUTH_TESTS)
  popauth_require_module(CMOCKA cmocka libcmocka-dev)
endif()

# Installation and the Debian package: what `cmake --install` puts where, and the CPack
# settings that turn exactly that tree into a .deb (scripts/package builds it with the
# prefix /usr). Paths in the systemd units follow the prefix, also one given at install
# time (cmake --install --prefix); the configuration file and the store directory are
# the programs' own defaults (POPAUTH_CONFIG_FILE, /var/lib/popauth) whatever the prefix.
get_filename_component(POPAUTH_CONFIG_DIR ${POPAUTH_CONFIG_FILE} DIRECTORY)
set(POPAUTH_SYSTEMD_LIBDIR "lib" CACHE PATH
  "Directory holding systemd/system, sysusers.d and tmpfiles.d (relative: under the prefix)")
set(POPAUTH_PKG_DIR ${CMAKE_BINARY_DIR}/packaging)

install(TARGETS popauth smtpgate RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS popauthctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES scripts/popauth.conf.example db/schema.sql DESTINATION ${CMAKE_INSTALL_DATADIR}/popauth)

# The configuration: installed only where none exists, so that reinstalling never
# overwrites an administrator's file (the package marks it a conffile instead).
# file(INSTALL) adds DESTDIR itself.
install(CODE "
  set(conf \"\$ENV{DESTDIR}${POPAUTH_CONFIG_FILE}\")
  if(EXISTS \"\${conf}\")
    message(STATUS \"Keeping existing: \${conf}\")
  else()
    file(INSTALL \"${CMAKE_SOURCE_DIR}/scripts/popauth.conf.example\"
      DESTINATION \"${POPAUTH_CONFIG_DIR}\" RENAME popauth.conf)
  endif()")

# systemd: the units, made at install time so that they name the programs under the
# prefix actually installed to; the user and the store directory. smtpgate.socket (for
# Postfix's unix socket) is installed but not enabled: the shipped config listens on inet.
if(IS_ABSOLUTE ${CMAKE_INSTALL_SBINDIR})
  set(POPAUTH_UNIT_SBINDIR ${CMAKE_INSTALL_SBINDIR})
else()
  set(POPAUTH_UNIT_SBINDIR "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SBINDIR}")
endif()
foreach(unit popauth.service smtpgate.service smtpgate.socket)
  install(CODE "
    set(CMAKE_INSTALL_FULL_SBINDIR \"${POPAUTH_UNIT_SBINDIR}\")
    set(POPAUTH_CONFIG_FILE \"${POPAUTH_CONFIG_FILE}\")
    configure_file(\"${CMAKE_SOURCE_DIR}/scripts/systemd/${unit}.in\"
      \"${POPAUTH_PKG_DIR}/${unit}\" @ONLY)")
  install(FILES ${POPAUTH_PKG_DIR}/${unit} DESTINATION ${POPAUTH_SYSTEMD_LIBDIR}/systemd/system)
endforeach()
# Dovecot's post-login script (INSTALL 5.6), made at install time like the units, so
# that it names the popauthctl actually installed and the configuration file.
if(IS_ABSOLUTE ${CMAKE_INSTALL_BINDIR})
  set(POPAUTH_SCRIPT_BINDIR ${CMAKE_INSTALL_BINDIR})
else()
  set(POPAUTH_SCRIPT_BINDIR "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}")
endif()
install(CODE "
  set(POPAUTH_CTL \"${POPAUTH_SCRIPT_BINDIR}/popauthctl\")
  set(POPAUTH_CONFIG_FILE \"${POPAUTH_CONFIG_FILE}\")
  configure_file(\"${CMAKE_SOURCE_DIR}/scripts/dovecot/popauth-postlogin.in\"
    \"${POPAUTH_PKG_DIR}/popauth-postlogin\" @ONLY)")
install(PROGRAMS ${POPAUTH_PKG_DIR}/popauth-postlogin DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/popauth)
install(FILES packaging/sysusers.conf DESTINATION ${POPAUTH_SYSTEMD_LIBDIR}/sysusers.d RENAME popauth.conf)
install(FILES packaging/tmpfiles.conf DESTINATION ${POPAUTH_SYSTEMD_LIBDIR}/tmpfiles.d RENAME popauth.conf)

# gzip_file - compress SOURCE into OUTPUT as Debian does (best, no name or time stamp)
function(gzip_file source output)
  add_custom_command(OUTPUT ${output} COMMAND sh -c "gzip -9nc \"$1\" >\"$2\"" sh ${source} ${output}
    DEPENDS ${source} VERBATIM)
endfunction()

# Man pages: whatever man/*.5 and man/*.8 exist, compressed.
file(GLOB POPAUTH_MANPAGES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/man/*.5 ${CMAKE_SOURCE_DIR}/man/*.8)
set(POPAUTH_GZ_FILES)
file(MAKE_DIRECTORY ${POPAUTH_PKG_DIR}/man)
foreach(page ${POPAUTH_MANPAGES})
  get_filename_component(name ${page} NAME)
  string(REGEX REPLACE "^.*\\." "" section ${name})
  gzip_file(${page} ${POPAUTH_PKG_DIR}/man/${name}.gz)
  list(APPEND POPAUTH_GZ_FILES ${POPAUTH_PKG_DIR}/man/${name}.gz)
  install(FILES ${POPAUTH_PKG_DIR}/man/${name}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()

# Documentation: the Debian copyright and changelog, and the MTA snippets as examples.
gzip_file(${CMAKE_SOURCE_DIR}/packaging/changelog ${POPAUTH_PKG_DIR}/changelog.gz)
list(APPEND POPAUTH_GZ_FILES ${POPAUTH_PKG_DIR}/changelog.gz)
add_custom_target(popauth_docs ALL DEPENDS ${POPAUTH_GZ_FILES})
install(FILES packaging/copyright ${POPAUTH_PKG_DIR}/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB POPAUTH_MTA_EXAMPLES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/scripts/mta/*)
install(FILES ${POPAUTH_MTA_EXAMPLES} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# The Debian package (cpack -G DEB): conffile, maintainer scripts, dependencies from the
# programs' shared libraries (dpkg-shlibdeps) plus the tools the postinst runs.
foreach(script conffiles postinst prerm postrm)
  configure_file(packaging/${script}.in ${POPAUTH_PKG_DIR}/${script} @ONLY)
  list(APPEND POPAUTH_CONTROL_EXTRA ${POPAUTH_PKG_DIR}/${script})
endforeach()
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME popauth)
set(CPACK_PACKAGE_VENDOR "popauth developers")
set(CPACK_PACKAGE_CONTACT "popauth developers <dev@popauth.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "POP-before-SMTP relay authorization for mail servers")
set(CPACK_PACKAGE_DESCRIPTION "popauth records the client address of each successful POP3 or IMAP
login, read from the mail server's log, the systemd journal or the wire, as a
relay grant with an expiry. smtpgate answers Postfix's relay question from
those grants over the policy-delegation protocol, or stands in front of any
MTA as an SMTP proxy. popauthctl lists, adds and revokes grants.")
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "systemd | systemd-standalone-sysusers | systemd-sysusers, systemd | systemd-standalone-tmpfiles | systemd-tmpfiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${POPAUTH_CONTROL_EXTRA})
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_OUTPUT_FILE_PREFIX ${CMAKE_BINARY_DIR}/package)
include(CPack)

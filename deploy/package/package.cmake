# package.cmake: `make package` / cpack. The default generator writes a tarball of what the install
# rules put in place; deploy/package/build-deb.sh builds the Debian package (CPack's DEB generator)
# from a build configured with -DCALLRAFT_DEB=ON -DCALLRAFT_RAFT_STATIC=ON
# -DCMAKE_INSTALL_PREFIX=/usr, which adds what only the package installs: the systemd unit, the
# example /etc/callraft/node.ini (a conffile), the docs, and the maintainer scripts (the `callraft`
# user, /var/lib/callraft, the unit enabled and started; purge removes them: docs/operations.md).
option(CALLRAFT_DEB "Install rules of the Debian package (systemd unit, /etc/callraft/node.ini)" OFF)
if(CALLRAFT_DEB)
  # deploy/callraftd.service as packaged: the programs under the package's prefix, and the static
  # `callraft` user postinst creates instead of a dynamic one, so /var/lib/callraft is the data
  # directory itself (a dynamic user's lives in /var/lib/private).
  file(READ ${CMAKE_SOURCE_DIR}/deploy/callraftd.service _unit)
  string(REPLACE "/usr/local/bin/" "${CMAKE_INSTALL_PREFIX}/bin/" _unit "${_unit}")
  string(REPLACE "file:///usr/local/share/doc/callraft/lab.md"
                 "file://${CMAKE_INSTALL_PREFIX}/share/doc/callraft/operations.md" _unit "${_unit}")
  string(REPLACE "DynamicUser=yes" "DynamicUser=no" _unit "${_unit}")
  file(WRITE ${CMAKE_BINARY_DIR}/package/callraftd.service "${_unit}")
  install(FILES ${CMAKE_BINARY_DIR}/package/callraftd.service DESTINATION lib/systemd/system)
  install(FILES ${CMAKE_SOURCE_DIR}/deploy/package/node.ini DESTINATION /etc/callraft)
  # postinst makes this machine's CA and certificates with it (TLS is on by default).
  install(PROGRAMS ${CMAKE_SOURCE_DIR}/deploy/certs.sh DESTINATION share/callraft)
  install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/docs/operations.md
                ${CMAKE_SOURCE_DIR}/docs/lab.md ${CMAKE_SOURCE_DIR}/docs/client.md
          DESTINATION share/doc/callraft)
endif()

set(CPACK_PACKAGE_NAME callraft)
set(CPACK_PACKAGE_VENDOR callraft)
set(CPACK_PACKAGE_CONTACT "callraft maintainers <callraft@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Raft-replicated contact-center state store: node, CLI, C client library")
set(CPACK_GENERATOR TGZ)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# Shared libraries from dpkg-shlibdeps (libuv1, liblmdb0, libprotobuf-c1, libwebsockets17, ...);
# the libuv event-lib plugin libwebsockets loads at run time, adduser and openssl (certs.sh) for
# postinst, by hand.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, libwebsockets-evlib-uv, openssl")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/deploy/package/postinst ${CMAKE_SOURCE_DIR}/deploy/package/prerm
  ${CMAKE_SOURCE_DIR}/deploy/package/postrm ${CMAKE_SOURCE_DIR}/deploy/package/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)

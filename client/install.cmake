# The installed client (`make install` / `cmake --install`): libcallraft.so with a versioned
# SONAME, the public headers under include/callraft/, and callraft.pc for pkg-config. A C program
# then builds with `cc app.c $(pkg-config --cflags --libs callraft)` (docs/client.md).
include(GNUInstallDirs)

# TLS (tls/tls.c: contexts and certificate identities) is part of the client; OpenSSL stays a shared
# dependency.
add_library(callraft_shared SHARED ${CLIENT_LIB_SRC} ${CMAKE_SOURCE_DIR}/tls/tls.c)
set_target_properties(callraft_shared PROPERTIES
  OUTPUT_NAME callraft
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR})
target_include_directories(callraft_shared PUBLIC
  $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/client>
  $<BUILD_INTERFACE:${PROTO_OUT}>
  $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/proto>
  $<BUILD_INTERFACE:${CMAKE_SOURCE_DIR}/tls>)
# The generated protobuf code (callraft.pb-c.c, position-independent) goes into the .so: a user
# needs its unpack/free functions and enum descriptors; protobuf-c itself stays a shared dependency.
target_link_libraries(callraft_shared PRIVATE callraft_proto PUBLIC PkgConfig::PROTOBUFC
                      OpenSSL::SSL OpenSSL::Crypto)

set(CALLRAFT_PUBLIC_HEADERS
  ${CMAKE_SOURCE_DIR}/client/callraft_client.h
  ${CMAKE_SOURCE_DIR}/client/callraft_request.h
  ${CMAKE_SOURCE_DIR}/proto/callraft_limits.h
  ${PROTO_OUT}/callraft.pb-c.h)
# callraft.pc sits in <prefix>/<libdir>/pkgconfig: its prefix is that many directories up.
string(REGEX MATCHALL "[^/]+" _callraft_pc_parts "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
set(CALLRAFT_PC_PREFIX_FROM_PCDIR "")
foreach(_part ${_callraft_pc_parts})
  string(APPEND CALLRAFT_PC_PREFIX_FROM_PCDIR "../")
endforeach()
string(REGEX REPLACE "/$" "" CALLRAFT_PC_PREFIX_FROM_PCDIR "${CALLRAFT_PC_PREFIX_FROM_PCDIR}")
configure_file(${CMAKE_SOURCE_DIR}/client/callraft.pc.in ${CMAKE_BINARY_DIR}/callraft.pc @ONLY)

install(TARGETS callraft_shared
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CALLRAFT_PUBLIC_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/callraft)
install(FILES ${CMAKE_BINARY_DIR}/callraft.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# `make package` (CPack): deploy/package/package.cmake (a tarball; the Debian package).

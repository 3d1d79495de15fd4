# tools/: programs built on libcallraft's public API, like any user's program: they link the
# shared library and include only its public headers. They land beside `callraft` in the build
# directory (deploy/ and tests/ run them from there) and install beside it (`callraft bench` runs
# callraft-bench from its own directory).
foreach(tool traffic bench)
  add_executable(callraft-${tool} ${CMAKE_SOURCE_DIR}/tools/${tool}.c)
  target_link_libraries(callraft-${tool} PRIVATE callraft_shared PkgConfig::JSONC Threads::Threads)
  set_target_properties(callraft-${tool} PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
  install(TARGETS callraft-${tool} DESTINATION bin)
endforeach()
# The HTTP/JSON API's load generator (docs/bench.md, "HTTP/JSON against the binary protocol"): raw
# sockets only, so it needs no client library at all.
add_executable(callraft-http-bench ${CMAKE_SOURCE_DIR}/tools/http_bench.c)
target_link_libraries(callraft-http-bench PRIVATE Threads::Threads)
# The stats read at a million waiting callers (docs/bench.md, "Stats over intervals"): drives the
# state machine directly (a scratch LMDB state), so it links the state library, not the client.
add_executable(callraft-stats-bench ${CMAKE_SOURCE_DIR}/tools/stats_bench.c)
target_link_libraries(callraft-stats-bench PRIVATE callraft_state)

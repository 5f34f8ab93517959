# tests/bench.cmake - bench_route, the in-process microbenchmark of the
# /v1/recs hot path (tests/bench_route.c; run by ops/bench/edge.sh, results
# in ops/bench/edge.md). A tool, not a test: never registered with add_test.
# rc_cache_get is wrapped so that the benchmark can record which keys
# re_route looks up and time bare mdb_get calls of exactly those keys.
add_executable(bench_route ${CMAKE_CURRENT_LIST_DIR}/bench_route.c)
target_link_libraries(bench_route PRIVATE re rc)
target_link_options(bench_route PRIVATE -Wl,--wrap=rc_cache_get)

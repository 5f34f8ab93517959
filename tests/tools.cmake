# tests/tools.cmake - helper programs for the end-to-end scripts, built into
# the tests folder of the build tree ($BIN/tests/<name>).
#
# cachedump: prints one DB of a cache version as TSV through shared/cache.h
# (tests/e2e/recbuild_*.sh read the lists with it).
add_executable(cachedump ${CMAKE_CURRENT_LIST_DIR}/cachedump.c)
target_link_libraries(cachedump PRIVATE rc)

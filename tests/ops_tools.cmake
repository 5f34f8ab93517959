# mkcache: the fixture cache writer of the end-to-end tests (tests/e2e/*.sh
# find it as $BIN/tests/mkcache): generated lists for recctl, the rebuild
# job and the rollout, or lists from a text spec for recedge's tests; see
# tests/mkcache.c. It writes through tests/fixture.h, as the unit tests do.
add_executable(mkcache ${CMAKE_CURRENT_LIST_DIR}/mkcache.c)
target_include_directories(mkcache PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(mkcache PRIVATE rc)

# mkcache: a deterministic fixture cache writer for the operations tests
# (tests/e2e/recctl.sh, rebuild.sh, fleet.sh); see tests/mkcache.c.
add_executable(mkcache ${CMAKE_CURRENT_LIST_DIR}/mkcache.c)
target_link_libraries(mkcache PRIVATE rc)

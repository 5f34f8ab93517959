# mkfixture: writes small cache versions from a text spec for the
# end-to-end tests (tests/e2e/edge_*.sh find it as $BIN/tests/mkfixture).
# Included from tests/CMakeLists.txt.
add_executable(mkfixture ${CMAKE_CURRENT_LIST_DIR}/mkfixture.c)
target_include_directories(mkfixture PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(mkfixture PRIVATE rc)

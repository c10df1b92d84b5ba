# The sources of tensorllm_core, listed once: core/CMakeLists.txt builds the library from
# them, tests/fuzz/CMakeLists.txt an instrumented copy for the HDF5 results harness.
file(GLOB_RECURSE TLLM_CORE_SOURCES CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/core/io/*.cpp ${PROJECT_SOURCE_DIR}/core/model/*.cpp
  ${PROJECT_SOURCE_DIR}/core/tensor/*.cpp ${PROJECT_SOURCE_DIR}/core/tucker/*.cpp
  ${PROJECT_SOURCE_DIR}/core/analysis/*.cpp ${PROJECT_SOURCE_DIR}/core/jobs/*.cpp
  ${PROJECT_SOURCE_DIR}/core/export/*.cpp ${PROJECT_SOURCE_DIR}/core/util/*.cpp
  ${PROJECT_SOURCE_DIR}/core/eval/*.cpp)

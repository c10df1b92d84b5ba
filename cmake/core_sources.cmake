# All the sources of the engine: tests/fuzz/CMakeLists.txt builds an instrumented copy of
# them for the harnesses that reach into most of core (core/CMakeLists.txt builds one
# library per folder).
file(GLOB_RECURSE TLLM_CORE_SOURCES CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/core/io/*.cpp ${PROJECT_SOURCE_DIR}/core/model/*.cpp
  ${PROJECT_SOURCE_DIR}/core/tensor/*.cpp ${PROJECT_SOURCE_DIR}/core/tucker/*.cpp
  ${PROJECT_SOURCE_DIR}/core/analysis/*.cpp ${PROJECT_SOURCE_DIR}/core/jobs/*.cpp
  ${PROJECT_SOURCE_DIR}/core/results/*.cpp ${PROJECT_SOURCE_DIR}/core/writeback/*.cpp ${PROJECT_SOURCE_DIR}/core/util/*.cpp
  ${PROJECT_SOURCE_DIR}/core/eval/*.cpp ${PROJECT_SOURCE_DIR}/core/edits/*.cpp)

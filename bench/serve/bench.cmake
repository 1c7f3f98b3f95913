# `vqa serve` under load: requests/s, p50/p99 latency, errors and resident memory with concurrent clients.
if(TARGET vqa_serve)
  add_executable(bench_serve ${CMAKE_SOURCE_DIR}/bench/serve/bench_serve.cpp)
  target_link_libraries(bench_serve PRIVATE vqa_serve vqa_hopfield CLI11::CLI11)
  set_target_properties(bench_serve PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endif()

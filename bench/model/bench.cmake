# Benchmark of the engine model: questions/s of parsing + exact execution at several batch sizes and thread
# counts, one-question latency, and the training wall time to reach 99% validation accuracy (from its log).
if(TARGET vqa_model)
  add_executable(bench_engine_model ${CMAKE_SOURCE_DIR}/bench/model/bench_engine_model.cpp)
  target_link_libraries(bench_engine_model PRIVATE vqa_model vqa_datasets CLI11::CLI11)
  set_target_properties(bench_engine_model PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endif()
# The whole engine from pixels: warm `ask` latency, evaluation throughput per thread count, training time.
if(TARGET vqa_model)
  add_executable(bench_pixel_engine ${CMAKE_SOURCE_DIR}/bench/model/bench_pixel_engine.cpp)
  target_link_libraries(bench_pixel_engine PRIVATE vqa_model vqa_datasets CLI11::CLI11)
  set_target_properties(bench_pixel_engine PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endif()

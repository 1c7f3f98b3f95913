# Benchmark of the streaming GQA reader: a generated questions file of GQA's full size, parsed in bounded memory.
if(TARGET vqa_datasets)
  add_executable(bench_gqa_reader ${CMAKE_CURRENT_SOURCE_DIR}/datasets/bench_gqa_reader.cpp)
  target_link_libraries(bench_gqa_reader PRIVATE vqa_datasets)
  target_compile_definitions(bench_gqa_reader PRIVATE VQA_DEFAULT_SHARED_DIR="${VQA_DEFAULT_SHARED_DIR}")
  set_target_properties(bench_gqa_reader PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endif()

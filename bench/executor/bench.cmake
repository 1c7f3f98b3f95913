# Benchmark of the differentiable executor: questions/s of batched soft execution per batch size and thread count.
if(TARGET vqa_soft_executor)
  add_executable(bench_soft_executor ${CMAKE_CURRENT_SOURCE_DIR}/executor/bench_soft_executor.cpp)
  target_link_libraries(bench_soft_executor PRIVATE vqa_soft_executor vqa_executor vqa_datasets)
  target_include_directories(bench_soft_executor PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/hopfield)
  target_compile_definitions(bench_soft_executor PRIVATE VQA_DEFAULT_SHARED_DIR="${VQA_DEFAULT_SHARED_DIR}")
  set_target_properties(bench_soft_executor PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endif()

# Benchmarks of src/hopfield: int8 vs fp32 linear, Softmax_1 vs softmax on CPU, and (CUDA builds) the
# fused Softmax_1 attention kernel against the unfused composition.
if(TARGET vqa_hopfield)
  foreach(bench_name bench_int8_linear bench_softmax1)
    add_executable(${bench_name} ${CMAKE_CURRENT_SOURCE_DIR}/hopfield/${bench_name}.cpp)
    target_link_libraries(${bench_name} PRIVATE vqa_hopfield)
    set_target_properties(${bench_name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
  endforeach()
  if(VQA_HOPFIELD_CUDA)
    add_executable(bench_softmax1_attention_cuda ${CMAKE_CURRENT_SOURCE_DIR}/hopfield/bench_softmax1_attention_cuda.cpp)
    target_link_libraries(bench_softmax1_attention_cuda PRIVATE vqa_hopfield)
    set_target_properties(bench_softmax1_attention_cuda PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
  endif()
endif()

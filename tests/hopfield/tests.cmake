# GoogleTest suite of src/hopfield (one binary; the CUDA check is a separate program that needs a GPU).
if(TARGET vqa_hopfield)
  vqa_test(test_hopfield
    SOURCES hopfield/test_associations.cpp hopfield/test_layers.cpp hopfield/test_quantization.cpp
            hopfield/test_outliers.cpp
    LIBS vqa_hopfield)
  if(VQA_HOPFIELD_CUDA)
    add_executable(check_hopfield_cuda hopfield/check_cuda_attention.cpp)
    target_link_libraries(check_hopfield_cuda PRIVATE vqa_hopfield)
    add_test(NAME check_hopfield_cuda COMMAND check_hopfield_cuda)
  endif()
endif()

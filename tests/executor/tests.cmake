# GoogleTest suite of the differentiable executor (needs torch): exactness against the symbolic executor,
# gradients, token mixtures and edge cases. The symbolic executor's suite (test_executor) is torch-free and
# registered in tests/CMakeLists.txt.
if(TARGET vqa_soft_executor)
  vqa_test(test_soft_executor SOURCES executor/test_soft_executor.cpp
           LIBS vqa_soft_executor vqa_executor vqa_datasets)
  if(TARGET vqa)
    add_dependencies(test_soft_executor vqa)  # generates its validation questions with `vqa generate`
  endif()
endif()

# The differentiable GQA executor against GqaExecutor (hand-built graphs, the real GQA samples), gradients and
# bad input.
if(TARGET vqa_soft_executor)
  vqa_test(test_gqa_soft_executor SOURCES executor/test_gqa_soft_executor.cpp
           LIBS vqa_soft_executor vqa_executor vqa_datasets)
endif()

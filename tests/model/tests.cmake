# GoogleTest suite of src/model: the engine's model file, training from question-answer pairs with exact
# resume, and the `vqa train` / `vqa eval --model` commands on good and bad input.
if(TARGET vqa_model)
  vqa_test(test_model SOURCES model/test_qa_training.cpp LIBS vqa_model vqa_datasets)
  if(TARGET vqa)
    add_dependencies(test_model vqa)  # the command tests run the built `vqa`
  endif()
endif()

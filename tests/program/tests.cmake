# GoogleTest suite of src/program: the question tokenizer.
if(TARGET vqa_program)
  vqa_test(test_program SOURCES program/test_tokenizer.cpp LIBS vqa_program vqa_datasets)
endif()

# GoogleTest suite of src/program: the question tokenizer and the ProgramParser.
if(TARGET vqa_program)
  vqa_test(test_program SOURCES program/test_tokenizer.cpp program/test_program_parser.cpp program/test_decoding.cpp
           LIBS vqa_program vqa_hopfield vqa_datasets)
endif()

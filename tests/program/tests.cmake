# GoogleTest suite of src/program: the question tokenizer, the ProgramParser and GQA programs as tokens.
if(TARGET vqa_program)
  vqa_test(test_program SOURCES program/test_tokenizer.cpp program/test_program_parser.cpp program/test_decoding.cpp
           program/test_gqa_program_codec.cpp program/test_gqa_program_parser.cpp
           LIBS vqa_program vqa_hopfield vqa_datasets)
endif()

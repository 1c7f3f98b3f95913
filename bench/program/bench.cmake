# Benchmark of the program model: supervised ProgramParser training and held-out program exact-match.
if(TARGET vqa_program)
  add_executable(bench_program_parser ${CMAKE_SOURCE_DIR}/bench/program/bench_program_parser.cpp)
  target_link_libraries(bench_program_parser PRIVATE vqa_program vqa_datasets)
  set_target_properties(bench_program_parser PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endif()

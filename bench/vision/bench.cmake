# Benchmark of src/vision: scene parser inference and training-step speed per thread count.
if(TARGET vqa_vision)
  add_executable(bench_scene_parser ${CMAKE_CURRENT_SOURCE_DIR}/vision/bench_scene_parser.cpp)
  target_link_libraries(bench_scene_parser PRIVATE vqa_vision)
  set_target_properties(bench_scene_parser PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
endif()

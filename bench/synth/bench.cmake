# Benchmarks of the CLEVR-style generator: render fidelity against real CLEVR images, generation speed, and
# the rules of CLEVR's generator checked on a generated dataset.
if(TARGET vqa_synth)
  foreach(b bench_render_fidelity bench_generate bench_generator_rules)
    add_executable(${b} ${CMAKE_SOURCE_DIR}/bench/synth/${b}.cpp)
    target_link_libraries(${b} PRIVATE vqa_synth)
    target_include_directories(${b} PRIVATE ${CMAKE_SOURCE_DIR}/tests)  # synth/clevr_rule_checks.h
    target_compile_definitions(${b} PRIVATE VQA_DEFAULT_SHARED_DIR="${VQA_DEFAULT_SHARED_DIR}")
    set_target_properties(${b} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bench)
  endforeach()
endif()

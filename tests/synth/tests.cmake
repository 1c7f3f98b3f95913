# Tests of the CLEVR-style generator: camera, ray tracer, scene sampler, question engine, CLEVR's generation
# rules, generate, and the generator's commands' handling of bad input.
if(TARGET vqa_synth)
  vqa_test(test_synth SOURCES synth/test_render.cpp synth/test_scene_sampler.cpp synth/test_question_engine.cpp
           synth/test_generator_rules.cpp synth/test_generate.cpp LIBS vqa_synth)
  if(TARGET vqa)
    vqa_test(test_synth_cli SOURCES synth/test_synth_cli.cpp LIBS vqa_core)
    add_dependencies(test_synth_cli vqa)
  endif()
endif()

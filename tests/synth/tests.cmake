# Tests of the CLEVR-style generator: camera, ray tracer, scene sampler, question engine, generate.
if(TARGET vqa_synth)
  vqa_test(test_synth SOURCES synth/test_render.cpp synth/test_scene_sampler.cpp synth/test_question_engine.cpp
           synth/test_generate.cpp LIBS vqa_synth)
endif()

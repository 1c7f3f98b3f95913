# GoogleTest suite of src/model: the engine's model file, training from question-answer pairs with exact
# resume, answering from pixels, the quantized engine, the GQA program model, and the `vqa train` / `vqa eval --model` /
# `vqa ask` / `vqa quantize` / `vqa average` commands on good and bad input.
if(TARGET vqa_model)
  vqa_test(test_model SOURCES model/test_qa_training.cpp model/test_pixel_answering.cpp
           model/test_gqa_model.cpp model/test_engine_quantization.cpp model/test_weight_average.cpp LIBS vqa_model vqa_synth vqa_datasets)
  if(TARGET vqa)
    add_dependencies(test_model vqa)  # the command tests run the built `vqa`
  endif()
endif()

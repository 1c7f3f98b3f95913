# GoogleTest suite of src/vision and the SoftScene tensors.
if(TARGET vqa_vision)
  vqa_test(test_vision
    SOURCES vision/test_soft_scene.cpp vision/test_geometry.cpp vision/test_images.cpp vision/test_model_file.cpp
            vision/test_training.cpp
    LIBS vqa_vision)
  if(TARGET vqa)
    add_dependencies(test_vision vqa)  # the command tests run the built `vqa`
  endif()
endif()

# GoogleTest suites of src/study: the outlier study's question task and tagger, the Bigram-Backcopy task,
# model and study, and the study-outliers command line.
if(TARGET vqa_study)
  vqa_test(test_study SOURCES study/test_outliers_study.cpp study/test_backcopy_study.cpp LIBS vqa_study)
  if(TARGET vqa)
    vqa_test(test_study_cli SOURCES study/test_study_cli.cpp LIBS vqa_core)
    add_dependencies(test_study_cli vqa)
  endif()
endif()

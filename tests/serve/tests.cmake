# GoogleTest suite of src/serve: the request gate and image cache, `vqa serve`'s JSON API run as a child
# process (with a tiny model trained once per build), and the page in headless Chromium.
if(TARGET vqa_serve AND TARGET vqa_synth AND TARGET vqa)
  vqa_test(test_serve SOURCES serve/test_serve_parts.cpp serve/test_serve_api.cpp serve/test_serve_browser.cpp
           LIBS PkgConfig::HTTPLIB vqa_synth Threads::Threads)
  add_dependencies(test_serve vqa)  # the tests run the built `vqa serve`
endif()

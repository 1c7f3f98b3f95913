// Tests for datasets/clevr: real CLEVR scenes, questions and templates load; writers round-trip; CLEVR's
// relationships recompute from coordinates; bad input gives one-line errors naming file and record.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "datasets/clevr/clevr_io.h"
#include "datasets/clevr/clevr_templates.h"
#include "datasets/json_file.h"
#include "test_support.h"

using namespace vqa;
using nlohmann::json;

static std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(ClevrScenes, RealScenesLoadAndRelationshipsRecompute) {
  VQA_REQUIRE_SHARED(shared);
  const auto train = readClevrScenes(shared + "/data/clevr-real/scenes/CLEVR_train_scenes_first1000.json");
  const auto val = readClevrScenes(shared + "/data/clevr-real/scenes/CLEVR_val_scenes_first500.json");
  ASSERT_EQ(train.scenes.size(), 1000u);
  ASSERT_EQ(val.scenes.size(), 500u);
  EXPECT_EQ(val.info["split"], "val");
  const SceneGraph& s0 = val.scenes[0];
  EXPECT_EQ(s0.image_filename, "CLEVR_val_000000.png");
  EXPECT_GE(s0.size(), 3);
  // Every relation list recomputes exactly from 3d_coords and directions (eps 0.2).
  for (const auto* set : {&train, &val}) {
    for (const SceneGraph& s : set->scenes) {
      SceneGraph recomputed;
      recomputed.directions = s.directions;
      for (int i = 0; i < s.size(); ++i) recomputed.addObject(s.object(i));
      addClevrRelationships(recomputed);
      ASSERT_EQ(recomputed.numRelations(), s.numRelations()) << s.image_filename;
      for (int i = 0; i < s.size(); ++i)
        for (const auto& r : {"left", "right", "front", "behind"})
          ASSERT_EQ(recomputed.subjectsOf(i, r), s.subjectsOf(i, r)) << s.image_filename;
    }
  }
}

TEST(ClevrScenes, WriterRoundTripsTheRealFileRecordForRecord) {
  VQA_REQUIRE_SHARED(shared);
  const std::string path = shared + "/data/clevr-real/scenes/CLEVR_val_scenes_first500.json";
  const json original = readJsonFile(path);
  const auto scenes = readClevrScenes(path);
  const std::string out = vqa::testing::scratchDir() + "/scenes.json";
  writeClevrScenes(out, scenes.scenes, scenes.info);
  const json written = readJsonFile(out);
  ASSERT_EQ(written["scenes"].size(), original["scenes"].size());
  for (size_t k = 0; k < 20; ++k) {
    json a = original["scenes"][k], b = written["scenes"][k];
    EXPECT_EQ(a["relationships"], b["relationships"]);
    EXPECT_EQ(a["directions"], b["directions"]);
    for (size_t j = 0; j < a["objects"].size(); ++j) {
      for (const char* key : {"color", "shape", "material", "size", "3d_coords", "pixel_coords", "rotation"})
        EXPECT_EQ(a["objects"][j][key], b["objects"][j][key]) << key;
    }
  }
  EXPECT_FALSE(std::filesystem::exists(out + ".tmp." + std::to_string(::getpid())));
}

TEST(ClevrQuestions, RealQuestionsLoadInBothSpellings) {
  VQA_REQUIRE_SHARED(shared);
  const auto train = readClevrQuestions(shared + "/data/clevr-real/questions/CLEVR_train_questions_q0-39.json");
  const auto val = readClevrQuestions(shared + "/data/clevr-real/questions/CLEVR_val_questions_img0_7q.json");
  const auto test = readClevrQuestions(shared + "/data/clevr-real/questions/CLEVR_test_questions_q0-9_noanswers.json");
  ASSERT_EQ(train.questions.size(), 40u);
  ASSERT_EQ(val.questions.size(), 7u);
  ASSERT_EQ(test.questions.size(), 10u);
  EXPECT_FALSE(test.questions[0].has_answer);
  EXPECT_FALSE(test.questions[0].has_program);
  for (const auto* set : {&train, &val}) {
    for (const auto& q : set->questions) {
      EXPECT_TRUE(q.program_error.empty()) << q.program_error;
      EXPECT_NO_THROW(validateProgram(q.program));
      EXPECT_GE(q.question_family_index, 0);
    }
  }
  // Generator spelling ("type"/"side_inputs") reads back to the same programs.
  const std::string out = vqa::testing::scratchDir() + "/q.json";
  writeClevrQuestions(out, val.questions, val.info, ProgramSpelling::Generator);
  EXPECT_EQ(readJsonFile(out)["questions"][0]["program"][1].count("type"), 1u);
  const auto back = readClevrQuestions(out);
  for (size_t k = 0; k < val.questions.size(); ++k)
    EXPECT_EQ(programToJson(back.questions[k].program), programToJson(val.questions[k].program));
}

TEST(ClevrTemplates, OfficialTemplatesLoad) {
  VQA_REQUIRE_SHARED(shared);
  size_t total = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(shared + "/data/clevr-gen/question_generation/CLEVR_1.0_templates")) {
    const auto templates = readClevrTemplates(entry.path().string());
    EXPECT_FALSE(templates.empty());
    total += templates.size();
  }
  EXPECT_EQ(total, 90u);
}

TEST(ClevrBadInput, OneLineErrorsNameFileRecordAndProblem) {
  const std::string dir = vqa::testing::scratchDir();
  using vqa::testing::writeFile;
  const std::string truncated = writeFile(dir + "/truncated.json", R"({"scenes": [{"image_index": 0, "objects": [)");
  EXPECT_NE(errorOf([&] { readClevrScenes(truncated); }).find(truncated + ": invalid or truncated JSON"),
            std::string::npos);
  const std::string empty = writeFile(dir + "/empty.json", "");
  EXPECT_EQ(errorOf([&] { readClevrQuestions(empty); }), empty + ": file is empty");
  EXPECT_EQ(errorOf([&] { readClevrQuestions(dir + "/missing.json"); }), dir + "/missing.json: cannot open file");

  const std::string missingField = writeFile(dir + "/scenes.json", R"({"scenes": [
    {"image_index": 0, "image_filename": "a.png", "objects": []},
    {"image_index": 1, "image_filename": "b.png", "objects": [
      {"color": "red", "size": "large", "material": "metal", "3d_coords": [0,0,0], "pixel_coords": [1,2,3]}]}]})");
  EXPECT_EQ(errorOf([&] { readClevrScenes(missingField); }),
            missingField + ": scene 1 (b.png): object 0: missing 'shape'");
  const std::string badRel = writeFile(dir + "/rel.json", R"({"scenes": [
    {"image_index": 0, "image_filename": "a.png", "objects": [], "relationships": {"left": [[3]]}}]})");
  EXPECT_EQ(errorOf([&] { readClevrScenes(badRel); }),
            badRel + ": scene 0 (a.png): relationships 'left' needs one list per object");

  const std::string badQuestion = writeFile(dir + "/q.json", R"({"questions": [{"image_index": 0}]})");
  EXPECT_EQ(errorOf([&] { readClevrQuestions(badQuestion); }), badQuestion + ": question 0: missing 'question'");
  const std::string notClevr = writeFile(dir + "/list.json", "[1, 2]");
  EXPECT_EQ(errorOf([&] { readClevrScenes(notClevr); }), notClevr + ": no 'scenes' list at the top level");

  const std::string badTemplate = writeFile(dir + "/t.json", R"([{"text": ["How many?"], "params": [],
    "nodes": [{"type": "scene", "inputs": []}, {"type": "count_everything", "inputs": [0]}]}])");
  EXPECT_EQ(errorOf([&] { readClevrTemplates(badTemplate); }),
            badTemplate + ": template 0: node 1: unknown function 'count_everything'");
}

TEST(JsonFile, AtomicWriteReplacesWholeFile) {
  const std::string path = vqa::testing::scratchDir() + "/sub/dir/out.json";
  writeJsonFileAtomic(path, json{{"a", 1}});
  writeJsonFileAtomic(path, json{{"b", 2}});
  EXPECT_EQ(readJsonFile(path), (json{{"b", 2}}));
}

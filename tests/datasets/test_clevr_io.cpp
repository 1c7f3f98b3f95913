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

static const char* kObject = R"({"color": "red", "size": "large", "shape": "cube", "material": "metal",
                                 "3d_coords": [0, 0, 0], "pixel_coords": [1, 2, 3]})";

TEST(ClevrBadInput, IntegersBeyondIntRangeAreErrorsNotWrappedIndices) {
  const std::string dir = vqa::testing::scratchDir();
  using vqa::testing::writeFile;
  // 4294967297 = 2^32 + 1 used to become scene 1; 2^63 used to become 0.
  const std::string scenes = writeFile(dir + "/scenes.json", R"({"scenes": [
    {"image_index": 4294967297, "image_filename": "a.png", "objects": []}]})");
  EXPECT_EQ(errorOf([&] { readClevrScenes(scenes); }),
            scenes + ": scene 0 (a.png): 'image_index' is 4294967297, out of range (0 to 2147483647)");
  const std::string questions = writeFile(dir + "/q.json", R"({"questions": [
    {"image_index": 9223372036854775808, "question": "?"}]})");
  EXPECT_EQ(errorOf([&] { readClevrQuestions(questions); }),
            questions + ": question 0: 'image_index' is 9223372036854775808, out of range (0 to 2147483647)");
  const std::string negative = writeFile(dir + "/neg.json", R"({"questions": [{"image_index": -1, "question": "?"}]})");
  EXPECT_EQ(errorOf([&] { readClevrQuestions(negative); }),
            negative + ": question 0: 'image_index' is -1, out of range (0 to 2147483647)");
  const std::string fraction = writeFile(dir + "/frac.json", R"({"questions": [{"image_index": 0.5, "question": "?"}]})");
  EXPECT_EQ(errorOf([&] { readClevrQuestions(fraction); }),
            fraction + ": question 0: 'image_index' is not an integer (0.5)");
  const std::string input = writeFile(dir + "/input.json", R"({"questions": [{"image_index": 0, "question": "?",
    "program": [{"function": "scene", "inputs": [], "value_inputs": []},
                {"function": "count", "inputs": [4294967297], "value_inputs": []}]}]})");
  const auto q = readClevrQuestions(input);
  EXPECT_EQ(q.questions.at(0).program_error, "step 1: 'inputs' is 4294967297, out of range (-2147483648 to 2147483647)");
  const std::string relation = writeFile(dir + "/rel.json", std::string(R"({"scenes": [{"image_index": 0,
    "image_filename": "a.png", "objects": [)") + kObject + R"(], "relationships": {"left": [[4294967297]]}}]})");
  EXPECT_EQ(errorOf([&] { readClevrScenes(relation); }),
            relation + ": scene 0 (a.png): relationships 'left'[0] holds 4294967297, not an object index (0 to 0)");
}

TEST(ClevrBadInput, TwoScenesWithOneImageIndexAreAnError) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string scenes = vqa::testing::writeFile(dir + "/scenes.json", R"({"info": {"split": "val"}, "scenes": [
    {"image_index": 0, "image_filename": "a.png", "objects": []},
    {"image_index": 1, "image_filename": "b.png", "objects": []},
    {"image_index": 0, "image_filename": "c.png", "objects": []}]})");
  EXPECT_EQ(errorOf([&] { readClevrScenes(scenes); }), scenes + ": scene 2 (c.png): image_index 0 is already used by scene 0");
  // The same index in two splits of one file is two images.
  const std::string splits = vqa::testing::writeFile(dir + "/splits.json", R"({"scenes": [
    {"split": "train", "image_index": 0, "image_filename": "a.png", "objects": []},
    {"split": "val", "image_index": 0, "image_filename": "b.png", "objects": []}]})");
  EXPECT_EQ(readClevrScenes(splits).scenes.size(), 2u);
}

TEST(JsonFile, FoldersNumbersTooLargeAndDeepNestingAreLocatedErrors) {
  const std::string dir = vqa::testing::scratchDir();
  using vqa::testing::writeFile;
  EXPECT_EQ(errorOf([&] { readJsonFile(dir); }), dir + ": is a folder, not a file");
  const std::string overflow = writeFile(dir + "/big.json", "{\"scenes\": [\n  {\"image_index\": 1e400}]}");
  const std::string message = errorOf([&] { readClevrScenes(overflow); });
  EXPECT_EQ(message.rfind(overflow + ": number too large at line 2, column ", 0), 0u) << message;
  EXPECT_NE(message.find("number overflow parsing '1e400'"), std::string::npos) << message;
  const std::string deep = writeFile(dir + "/deep.json", "{\"info\": " + std::string(100000, '[') + "}");
  EXPECT_EQ(errorOf([&] { readClevrScenes(deep); }),
            deep + ": lists and objects nest deeper than 512 levels at line 1, column 521 (byte 520)");
  // A truncated 10 MB string: nlohmann echoes the whole token; the message stays short.
  const std::string truncated = writeFile(dir + "/cut.json", "{\"questions\": [\"" + std::string(10'000'000, 'x'));
  const std::string cut = errorOf([&] { readClevrQuestions(truncated); });
  EXPECT_EQ(cut.rfind(truncated + ": invalid or truncated JSON at line 1, column ", 0), 0u) << cut.substr(0, 300);
  EXPECT_LT(cut.size(), 300u) << cut;
  EXPECT_EQ(cut.find('\n'), std::string::npos);
}

TEST(ClevrBadInput, LongValuesAreCutShortInMessages) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string colour(10'000'000, 'r');
  const std::string scenes = vqa::testing::writeFile(
      dir + "/scenes.json", R"({"scenes": [{"image_index": 0, "image_filename": "a.png", "objects": [{"color": ")" +
                                colour + R"(", "size": "large", "shape": "cube", "material": "metal"}]}]})");
  EXPECT_EQ(errorOf([&] { readClevrScenes(scenes); }),
            scenes + ": scene 0 (a.png): object 0: unknown color '" + std::string(60, 'r') + "...'");
}

TEST(JsonFile, OutputFilesAreWrittenAllOrNone) {
  const std::string dir = vqa::testing::scratchDir();
  const std::string blocker = vqa::testing::writeFile(dir + "/plain-file", "x");
  OutputFiles outputs;
  outputs.addJson("--predictions", dir + "/predictions.json", json::array());
  outputs.addJson("--json", blocker + "/result.json", json::object());
  try {
    outputs.commit();
    FAIL() << "a file cannot hold a folder";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("--json " + blocker + "/result.json: cannot create folder", 0), 0u)
        << e.what();
  }
  // Neither the first output nor any temporary is left.
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) left.push_back(entry.path().filename().string());
  EXPECT_EQ(left, std::vector<std::string>{"plain-file"});

  OutputFiles good;
  good.addJson("--predictions", dir + "/p.json", json::array({1}));
  good.addJson("--json", dir + "/sub/j.json", json{{"a", 2}});
  good.commit();
  EXPECT_EQ(readJsonFile(dir + "/p.json"), json::array({1}));
  EXPECT_EQ(readJsonFile(dir + "/sub/j.json"), (json{{"a", 2}}));
}

// The streaming reader hands over each top-level member complete and equal to what the whole-document parse
// gives, in file order, and fails with the same located one-line errors.
TEST(JsonFile, StreamedMembersEqualTheDocumentsAndErrorsAreLocated) {
  const std::string dir = vqa::testing::scratchDir();
  using vqa::testing::writeFile;
  const std::string text = R"({"b": {"x": [1, 2.5, {"y": null, "z": [true, "s\"]"]}], "w": {}},
    "a": [[], [[1]], {"k": -3}], "c": "plain", "d": 18446744073709551615})";
  const std::string path = writeFile(dir + "/doc.json", text);
  const nlohmann::json whole = nlohmann::json::parse(text);
  std::vector<std::string> keys;
  streamJsonObject(path, "not an object", [&](std::string key, nlohmann::json value) {
    EXPECT_EQ(value, whole.at(key)) << key;
    keys.push_back(key);
  });
  EXPECT_EQ(keys, (std::vector<std::string>{"b", "a", "c", "d"}));
  auto stream = [&](const std::string& file) { streamJsonObject(file, "not an object", [](std::string, nlohmann::json) {}); };
  EXPECT_EQ(errorOf([&] { stream(writeFile(dir + "/list.json", "[1]")); }), dir + "/list.json: not an object");
  EXPECT_EQ(errorOf([&] { stream(writeFile(dir + "/empty.json", " \n")); }), dir + "/empty.json: file is empty");
  EXPECT_EQ(errorOf([&] { stream(dir); }), dir + ": is a folder, not a file");
  const std::string cut = writeFile(dir + "/cut.json", "{\"a\": 1,\n \"b\": [1, 2");
  const std::string message = errorOf([&] { stream(cut); });
  EXPECT_EQ(message.rfind(cut + ": invalid or truncated JSON at line 2, column ", 0), 0u) << message;
  const std::string deep = writeFile(dir + "/deep.json", "{\"info\": " + std::string(100000, '[') + "}");
  EXPECT_EQ(errorOf([&] { stream(deep); }),
            deep + ": lists and objects nest deeper than 512 levels at line 1, column 521 (byte 520)");
  const std::string big = writeFile(dir + "/big.json", "{\"a\":\n 1e400}");
  EXPECT_EQ(errorOf([&] { stream(big); }).rfind(big + ": number too large at line 2, column ", 0), 0u);
}

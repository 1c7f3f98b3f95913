// The question tokenizer on the real CLEVR questions: splitting, vocabulary, unknown words, limits and its
// saved form.
#include <gtest/gtest.h>

#include <stdexcept>

#include "datasets/clevr/clevr_io.h"
#include "program/tokenizer.h"
#include "test_support.h"

using vqa::program::QuestionTokenizer;

TEST(Tokenizer, SplitsWordsAndPunctuationLowerCased) {
  const std::vector<std::string> expected = {"are", "there", "more", "big", "green", "things", "than",
                                             "large", "purple", "shiny", "cubes", "?"};
  EXPECT_EQ(QuestionTokenizer::split("Are there more big green things than large purple shiny cubes?"), expected);
  const std::vector<std::string> commas = {"what", "is", "it", ",", "the", "cube", "'", "s", "colour", ";", "ok", "."};
  EXPECT_EQ(QuestionTokenizer::split("  What is\tit, the cube's colour;ok. "), commas);
  EXPECT_TRUE(QuestionTokenizer::split(" \n\t ").empty());
}

TEST(Tokenizer, RealQuestionsEncodeWithoutUnknownsAndNewWordsAreUnknown) {
  VQA_REQUIRE_SHARED(shared);
  const auto file = vqa::readClevrQuestions(shared + "/data/clevr-real/questions/CLEVR_train_questions_q0-39.json");
  std::vector<std::string> texts;
  for (const auto& q : file.questions) texts.push_back(q.question);
  ASSERT_EQ(texts.size(), 40u);
  const QuestionTokenizer t = QuestionTokenizer::build(texts);
  EXPECT_GT(t.size(), 40);
  for (const auto& q : texts) {
    const auto ids = t.encode(q, 64);
    ASSERT_EQ(ids.size(), QuestionTokenizer::split(q).size() + 2);
    EXPECT_EQ(ids.front(), QuestionTokenizer::kStart);
    EXPECT_EQ(ids.back(), QuestionTokenizer::kEnd);
    for (size_t i = 1; i + 1 < ids.size(); ++i) {
      EXPECT_NE(ids[i], QuestionTokenizer::kUnknown) << q;
      EXPECT_EQ(t.word(ids[i]), QuestionTokenizer::split(q)[i - 1]);
    }
  }
  const auto ids = t.encode("Is the zorblax cube teal?", 64);
  EXPECT_EQ(ids[3], QuestionTokenizer::kUnknown);  // zorblax
  EXPECT_EQ(ids[5], QuestionTokenizer::kUnknown);  // teal: no real question here says it
  EXPECT_NE(ids[4], QuestionTokenizer::kUnknown);  // cube
  // The same questions give the same ids; a minimum count drops rare words.
  EXPECT_EQ(QuestionTokenizer::build(texts).toJson(), t.toJson());
  EXPECT_LT(QuestionTokenizer::build(texts, 3).size(), t.size());
}

TEST(Tokenizer, EmptyAndOverlongQuestionsAreClearErrors) {
  const QuestionTokenizer t = QuestionTokenizer::build({"how many cubes ?"});
  EXPECT_THROW(t.encode("", 64), std::runtime_error);
  EXPECT_THROW(t.encode(" \t\n ", 64), std::runtime_error);
  std::string long_question;
  for (int i = 0; i < 2000; ++i) long_question += "cube ";  // 10,000 characters
  try {
    t.encode(long_question, 64);
    FAIL() << "a 2,000-word question was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("2000 words"), std::string::npos) << e.what();
  }
  // Only unknown words still encode.
  EXPECT_EQ(t.encode("zorblax quux", 64), (std::vector<int64_t>{2, 1, 1, 3}));
}

TEST(Tokenizer, SavedFormRoundTripsAndBadFormsAreRefused) {
  const QuestionTokenizer t = QuestionTokenizer::build({"What color is the big ball?", "How many cubes?"});
  const QuestionTokenizer back = QuestionTokenizer::fromJson(t.toJson());
  EXPECT_EQ(back.size(), t.size());
  for (int64_t i = 0; i < t.size(); ++i) EXPECT_EQ(back.word(i), t.word(i));
  EXPECT_THROW(QuestionTokenizer::fromJson(nlohmann::json::array()), std::runtime_error);
  EXPECT_THROW(QuestionTokenizer::fromJson({{"words", {"<pad>", "<unk>"}}}), std::runtime_error);
  EXPECT_THROW(QuestionTokenizer::fromJson({{"words", {"<pad>", "<unk>", "<start>", "<end>", "a", "a"}}}),
               std::runtime_error);
  EXPECT_THROW(QuestionTokenizer::fromJson({{"words", {"<unk>", "<pad>", "<start>", "<end>"}}}), std::runtime_error);
  EXPECT_THROW(QuestionTokenizer::fromJson({{"words", {"<pad>", "<unk>", "<start>", "<end>", 7}}}), std::runtime_error);
  EXPECT_THROW(t.word(t.size()), std::out_of_range);
}

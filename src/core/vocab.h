// CLEVR's concept vocabularies and the 28-way answer space, shared by readers, executors and models.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace vqa::clevr {

// The four attribute groups, in the order SoftScene stores them.
enum class Attribute { Color = 0, Shape = 1, Material = 2, Size = 3 };
constexpr int kNumAttributes = 4;

const std::vector<Attribute>& attributes();
const std::string& attributeName(Attribute a);           // "color", "shape", ...
const std::string& attributeTypeName(Attribute a);       // "Color", "Shape", ... (metadata.json types)
const std::vector<std::string>& attributeValues(Attribute a);
bool parseAttribute(const std::string& name, Attribute* out);  // accepts "color" and "Color"
int valueIndex(Attribute a, const std::string& value);   // -1 when unknown

const std::vector<std::string>& colors();
const std::vector<std::string>& shapes();
const std::vector<std::string>& materials();
const std::vector<std::string>& sizes();
const std::vector<std::string>& relations();  // left, right, behind, front
int relationIndex(const std::string& relation);  // -1 when unknown

// CLEVR's synonyms.json: canonical word (value, "thing", relation) -> its surface forms in questions.
const std::map<std::string, std::vector<std::string>>& synonyms();

// The 28 answers: yes, no, 0..10, 8 colors, 2 sizes, 3 shapes, 2 materials.
const std::vector<std::string>& answers();
int answerIndex(const std::string& answer);  // -1 when unknown
constexpr int kNumAnswers = 28;
constexpr int kMaxCount = 10;

}  // namespace vqa::clevr

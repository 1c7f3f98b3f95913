// The explanation picture of an answer: the image with its detected objects (numbered, with their values),
// the question, answer and program, and a strip of panels, one per program step, each showing the image
// dimmed except where the step puts its object mass (with the mass written beside each object), or the
// step's answer for answer-valued steps.
#pragma once
#include <opencv2/core.hpp>

#include <string>

#include "model/pixel_answering.h"

namespace vqa::model {

// bgr: the image the answer is about (any size; drawn at 480 wide).
cv::Mat drawExplanation(const cv::Mat& bgr, const ParsedImage& image, const std::string& question,
                        const PixelAnswer& answer);

// PNG bytes of a picture (throws std::runtime_error when encoding fails).
std::string encodePng(const cv::Mat& picture);

// A detected object in words: "large red metal cube".
std::string describeObject(const vision::PredictedObject& object);

}  // namespace vqa::model

// `vqa train-vision`: trains the scene parser (image -> SoftScene) on a CLEVR-layout folder's scene
// annotations, with progress, atomic checkpoints, exact --resume, a metrics log and a PNG of the curves.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <stdexcept>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "vision/trainer.h"

static vqa::cli::Registrar reg(
    "train-vision", "Train the scene parser on scene annotations (CLEVR layout: images/<split>, scenes/)",
    [](CLI::App& app) {
      auto o = std::make_shared<vqa::vision::TrainVisionOptions>();
      app.add_option("--data", o->data_dir, "dataset folder in CLEVR's v1.0 layout")->required()->type_name("DIR");
      app.add_option("--out", o->out_path, "model file (also the checkpoint --resume continues)")->required()->type_name("MODEL");
      app.add_option("--split", o->split, "training split")->capture_default_str();
      app.add_option("--val-split", o->val_split, "validation split, evaluated at each checkpoint when present")
          ->capture_default_str();
      app.add_option("--val-data", o->val_data_dir, "folder of the validation split (default --data)")->type_name("DIR");
      app.add_option("--val-images", o->val_images, "validation images per checkpoint (0: none)")->capture_default_str();
      app.add_option("--epochs", o->epochs, "epochs (default 10 when neither --epochs nor --steps is given)");
      app.add_option("--steps", o->steps, "training steps (batches)");
      app.add_option("--stop-at", o->stop_at, "checkpoint and stop after this step (continue later with --resume)");
      app.add_option("--batch-size", o->batch_size, "images per step")->capture_default_str();
      app.add_option("--lr", o->learning_rate, "peak learning rate (AdamW, warm-up then cosine)")->capture_default_str();
      app.add_option("--weight-decay", o->weight_decay, "AdamW weight decay")->capture_default_str();
      app.add_option("--seed", o->seed, "seed of the initial weights, data order and augmentation")->capture_default_str();
      app.add_option("--threads", o->threads, "torch intra-op threads (OpenBLAS gets the same)")->capture_default_str();
      app.add_option("--loader-threads", o->loader_threads, "image decoding threads")->capture_default_str();
      app.add_flag("--resume", o->resume, "continue from --out exactly where its checkpoint stopped");
      app.add_option("--init", o->init_path,
                     "start from this scene parser's weights where names and shapes match (e.g. one without crops)");
      app.add_flag("!--no-augment", o->augment, "no photometric augmentation");
      app.add_flag("--flip", o->flip, "mirror about half the training images left-right (with their masks and centres)");
      app.add_flag("--paste", o->paste,
                   "paste one or two whole objects of other training images into about two images in three, in depth "
                   "order, with their annotations (needs the data's object masks)");
      app.add_flag("--paste-occlude", o->paste_occlude,
                   "with --paste: keep only pastes that partly hide an object of the image or are partly hidden by "
                   "one (half-hidden objects are where a parser errs most)");
      app.add_option("--checkpoint-seconds", o->checkpoint_seconds, "seconds between checkpoints")->capture_default_str();
      app.add_option("--log", o->log_path, "metrics log, JSON lines (default MODEL.metrics.jsonl)");
      app.add_option("--curves", o->curves_path, "PNG of the training curves (default MODEL.curves.png)");
      app.add_option("--attention", o->model.attention, "association of every attention: softmax1|softmax|clipped|gated")
          ->check(CLI::IsMember({"softmax1", "softmax", "clipped", "gated"}))
          ->capture_default_str();
      app.add_option("--channels", o->model.channels, "backbone width")->capture_default_str();
      app.add_option("--slot-size", o->model.slot_size, "slot feature width")->capture_default_str();
      app.add_option("--crop-size", o->model.crop_size,
                     "side of each object's full-resolution crop (0: no crop branch)")->capture_default_str();
      app.add_option("--crop-readout", o->model.crop_readout,
                     "crop features: grid (a 4x4 grid of the crop CNN's map, flattened) or mean (its average)")
          ->check(CLI::IsMember({"grid", "mean"}))
          ->capture_default_str();
      app.add_flag("--crop-mask", o->model.crop_mask,
                   "the crop CNN also learns each object's visible mask from the data's masks/<split> (vqa generate "
                   "--masks) and reads the features under it");
      app.add_option("--crop-stem", o->model.crop_stem,
                     "the crop CNN's first stage: full (a convolution at the crop's full resolution) or "
                     "space-to-depth (2x2 pixel blocks as channels, read at half resolution: faster)")
          ->check(CLI::IsMember({"full", "space-to-depth"}))
          ->capture_default_str();
      app.add_option("--crop-window", o->model.crop_window,
                     "side of each object's crop in scene units at its depth (a small object is 0.7 across, a large "
                     "one 1.4)")->capture_default_str();
      app.add_option("--input-width", o->model.input_width, "network input width (height is 2/3 of it)")
          ->capture_default_str();
      app.callback([o] {
        o->model.input_height = o->model.input_width * 2 / 3;
        vqa::cli::checkPlainName("--split", o->split);
        if (!o->val_split.empty()) vqa::cli::checkPlainName("--val-split", o->val_split);
        vqa::vision::checkTrainVisionOptions(*o);
        vqa::cli::checkOutputFile("--out", o->out_path);
        if (!o->log_path.empty()) vqa::cli::checkOutputFile("--log", o->log_path);
        if (!o->curves_path.empty()) vqa::cli::checkOutputFile("--curves", o->curves_path);
        auto r = vqa::vision::trainSceneParser(*o, std::cerr);
        std::printf("train-vision: %lld steps (from %lld) in %.1f s, last loss %.4f; model %s\n",
                    static_cast<long long>(r.steps), static_cast<long long>(r.start_step), r.seconds, r.last_loss,
                    o->out_path.c_str());
      });
    });

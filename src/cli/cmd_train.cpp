// `vqa train`: trains the engine from question-answer pairs and a few supervised programs (scenes from the
// ground truth with --scene oracle), with progress, atomic checkpoints, exact --resume, a metrics log and a
// PNG of the curves; with --dataset gqa, the GQA program model on a questions file's programs.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "cli/command.h"
#include "cli/option_checks.h"
#include "hopfield/association.h"
#include "model/gqa_model.h"
#include "model/qa_trainer.h"
#include "model/vision_finetune.h"
#include "training/distributed.h"

static vqa::cli::Registrar reg(
    "train", "Train the engine from question-answer pairs and a few programs (CLEVR layout; --scene oracle|vision)",
    [](CLI::App& app) {
      auto o = std::make_shared<vqa::model::TrainQaOptions>();
      auto attention = std::make_shared<std::string>("softmax1");
      app.add_option("--data", o->data_dir, "dataset folder in CLEVR's v1.0 layout (questions/, scenes/)")
          ->type_name("DIR");
      auto dataset = std::make_shared<std::string>("clevr");
      auto gqa = std::make_shared<vqa::model::TrainGqaOptions>();
      app.add_option("--dataset", *dataset, "clevr (--data DIR) or gqa (--questions FILE)")
          ->check(CLI::IsMember({"clevr", "gqa"}))->capture_default_str();
      app.add_option("--questions", gqa->questions_path, "GQA: questions file with `semantic` programs")->type_name("FILE");
      app.add_option("--scene-graphs", gqa->scene_graphs_path,
                     "GQA: scene graphs; held-out questions on these images are also answered in validation")
          ->type_name("FILE");
      app.add_option("--holdout", gqa->holdout, "GQA: share of the file's images held out of training")
          ->capture_default_str();
      app.add_option("--split-seed", gqa->split_seed, "GQA: which images are held out")->capture_default_str();
      CLI::Option* gqa_steps = app.add_option("--steps", gqa->steps, "GQA: training steps")->capture_default_str();
      app.add_option("--min-word-count", gqa->min_word_count,
                     "GQA: program words seen fewer times are written by copying from the question only")
          ->capture_default_str();
      app.add_option("--val-every", gqa->val_every, "GQA: held-out exact-match every N steps (0: at the end)")
          ->capture_default_str();
      app.add_option("--out", o->out_path, "model file (also the checkpoint --resume continues)")
          ->required()->type_name("MODEL");
      auto programs_from = std::make_shared<std::string>();
      app.add_option("--scene", o->model.scene,
                     "where the model's scenes come from: oracle (ground-truth scene graphs) or vision (its own scene "
                     "parser reads the images)")
          ->check(CLI::IsMember({"oracle", "vision"}))->capture_default_str();
      app.add_option("--vision", o->vision_path,
                     "--scene vision: the scene parser (vqa train-vision, or the one inside a floating-point engine); "
                     "default: train one first on the data's scene annotations (OUT.vision.bin)")->type_name("MODEL");
      app.add_option("--vision-steps", o->vision_steps, "--scene vision without --vision: its training steps")
          ->capture_default_str();
      auto finetune = std::make_shared<vqa::model::FinetuneVisionOptions>();
      finetune->steps = 0;
      app.add_option("--finetune-vision", finetune->steps,
                     "--scene vision: then this many steps of end-to-end training from answers through the soft "
                     "executor into the scene parser (0: none)")->capture_default_str();
      app.add_option("--finetune-lr", finetune->learning_rate, "its peak learning rate")->capture_default_str();
      app.add_option("--finetune-batch-size", finetune->batch_size, "its images per step")->capture_default_str();
      app.add_option("--finetune-questions", finetune->questions_per_image, "its questions per image and step")
          ->capture_default_str();
      app.add_flag("--finetune-flip", finetune->flip,
                   "its images: mirror about half of them left-right, with their annotations, and swap the left and "
                   "right relations read from a mirrored image, so that each answer stays true of it");
      app.add_option("--annotation-weight", finetune->annotation_weight,
                     "its weight of the scene annotation losses beside the answer loss")->capture_default_str();
      app.add_option("--programs-from", *programs_from,
                     "--scene vision: take the programs of this trained model (oracle-scene, or an engine whose scene parser "
                     "is replaced) instead of training them")
          ->type_name("MODEL");
      app.add_option("--split", o->split, "training split")->capture_default_str();
      app.add_option("--val-split", o->val_split, "validation split, evaluated after the warm start and each round")
          ->capture_default_str();
      app.add_option("--val-questions", o->val_questions, "validation questions per evaluation (0: none)")
          ->capture_default_str();
      app.add_option("--programs", o->programs, "supervised programs for the warm start, spread over the families (0: none)")
          ->capture_default_str();
      app.add_option("--qa-fraction", o->qa_fraction,
                     "share of the split's question-answer pairs to train on; the fine-tuning of the scene parser "
                     "keeps to the share its programs learnt from unless this is given")
          ->capture_default_str();
      app.add_option("--warm-steps", o->warm_steps, "warm-start steps on the supervised programs")->capture_default_str();
      app.add_option("--rounds", o->rounds, "rounds of program search + learning from answers")->capture_default_str();
      app.add_option("--round-steps", o->round_steps, "learning steps per round")->capture_default_str();
      app.add_option("--samples", o->samples, "programs sampled per question in each search")->capture_default_str();
      app.add_option("--wide-samples", o->wide_samples,
                     "programs sampled again per question for groups a search left without a program (0: never)")
          ->capture_default_str();
      app.add_option("--search-questions", o->search_questions,
                     "questions searched per round: a rotating slice of the QA pairs (0: all)")
          ->capture_default_str();
      app.add_option("--temperature", o->temperature, "sampling temperature of the search")->capture_default_str();
      app.add_option("--answer-loss", o->answer_loss, "weight of the answer likelihood through the soft executor")
          ->capture_default_str();
      app.add_option("--batch-size", o->batch_size, "questions per step")->capture_default_str();
      app.add_option("--lr", o->learning_rate, "peak learning rate (AdamW, warm-up then cosine)")->capture_default_str();
      app.add_option("--weight-decay", o->weight_decay, "AdamW weight decay")->capture_default_str();
      app.add_option("--stop-at", o->stop_at, "checkpoint and stop after this step (continue later with --resume)");
      app.add_option("--seed", o->seed, "seed of the weights, the chosen questions, batches and samples")
          ->capture_default_str();
      app.add_option("--threads", o->threads, "torch intra-op threads (OpenBLAS gets the same)")->capture_default_str();
      app.add_flag("--resume", o->resume, "continue from --out exactly where its checkpoint stopped");
      app.add_option("--checkpoint-seconds", o->checkpoint_seconds, "seconds between checkpoints")->capture_default_str();
      app.add_option("--log", o->log_path, "metrics log, JSON lines (default MODEL.metrics.jsonl)");
      app.add_option("--curves", o->curves_path, "PNG of the training curves (default MODEL.curves.png)");
      app.add_option("--log-seconds", o->log_seconds, "seconds between progress lines and loss records (0: every step)")
          ->capture_default_str();
      app.add_option("--attention", *attention, "association of every attention: softmax1|softmax|clipped|gated")
          ->check(CLI::IsMember({"softmax1", "softmax", "clipped", "gated"}))->capture_default_str();
      app.add_option("--model-size", o->model.parser.model_size, "width of the program model")->capture_default_str();
      app.add_option("--heads", o->model.parser.num_heads, "attention heads")->capture_default_str();
      app.add_option("--layers", o->model.parser.encoder_layers, "encoder and decoder layers")->capture_default_str();
      app.add_option("--dropout", o->model.parser.dropout, "dropout of the program model")->capture_default_str();
      app.add_flag("!--no-concept-mask", o->model.concept_mask,
                   "let programs use concepts the question does not name");
      app.add_flag("!--no-phrase-pointers", o->model.phrase_pointers,
                   "read phrases word by word and write their filters token by token");
      auto nproc = std::make_shared<int>(1);
      app.add_option("--nproc", *nproc, "data-parallel over this many local processes (c10d/Gloo)")
          ->check(CLI::Range(1, 1024))->capture_default_str();
      app.add_option("--world", gqa->distributed.world, "multi-host: processes in all (with --rank, --master)");
      app.add_option("--rank", gqa->distributed.rank, "multi-host: this process's rank (0 serves --master)");
      app.add_option("--master", gqa->distributed.master, "multi-host: ADDR:PORT of rank 0's TCP store");
      app.callback([o, attention, programs_from, finetune, dataset, gqa, gqa_steps, nproc, &app] {
        const bool distributed = *nproc > 1 || app.get_option("--world")->count() > 0 ||
                                 app.get_option("--rank")->count() > 0 || app.get_option("--master")->count() > 0;
        if (distributed && finetune->steps > 0)
          throw std::runtime_error("--finetune-vision: runs in one process (fine-tune after the data-parallel run, "
                                   "with --resume)");
        if (distributed && !programs_from->empty())
          throw std::runtime_error("--programs-from: joins two models in one process (no --nproc/--world)");
        if (distributed && *dataset != "gqa" && o->model.scene == "vision" && o->vision_path.empty() && !o->resume)
          throw std::runtime_error("--scene vision over several processes: train the scene parser first (vqa "
                                   "train-vision) and give it with --vision");
        if (*nproc > 1) {
          if (app.get_option("--world")->count() || app.get_option("--rank")->count() || app.get_option("--master")->count())
            throw std::runtime_error("--nproc starts its processes itself: --world, --rank and --master go without it");
          // The same command once per process, without --nproc (each gets --rank, --world and --master).
          std::vector<std::string> line;
          const auto& all = vqa::cli::commandLine();
          for (size_t i = 0; i < all.size(); ++i) {
            if (all[i] == "--nproc") { ++i; continue; }
            if (all[i].rfind("--nproc=", 0) == 0) continue;
            line.push_back(all[i]);
          }
          const int status = vqa::training::runLocalWorkers(line, *nproc);
          if (status != 0) throw std::runtime_error("train: a worker process failed (exit status " + std::to_string(status) + ")");
          return;
        }
        if (*dataset == "gqa") {
          // Options shared with CLEVR training carry over when given; otherwise GQA's defaults hold.
          auto given = [&](const char* name) { return app.get_option(name)->count() > 0; };
          if (gqa->questions_path.empty()) throw std::runtime_error("--dataset gqa: --questions FILE is required");
          if (!o->data_dir.empty()) throw std::runtime_error("--dataset gqa reads --questions FILE, not --data");
          for (const char* clevr_only : {"--scene", "--vision", "--programs", "--rounds", "--samples", "--finetune-vision",
                                         "--programs-from", "--qa-fraction", "--answer-loss", "--split"})
            if (given(clevr_only)) throw std::runtime_error(std::string(clevr_only) + ": CLEVR training only");
          gqa->out_path = o->out_path;
          if (given("--batch-size")) gqa->batch_size = o->batch_size;
          if (given("--lr")) gqa->learning_rate = o->learning_rate;
          if (given("--weight-decay")) gqa->weight_decay = o->weight_decay;
          if (given("--model-size")) gqa->parser.model_size = o->model.parser.model_size;
          if (given("--heads")) gqa->parser.num_heads = o->model.parser.num_heads;
          if (given("--layers")) gqa->parser.encoder_layers = o->model.parser.encoder_layers;
          if (given("--dropout")) gqa->parser.dropout = o->model.parser.dropout;
          gqa->parser.association.kind = vqa::hopfield::parse_attention_kind(*attention);
          gqa->stop_at = o->stop_at;
          gqa->seed = o->seed;
          gqa->threads = o->threads;
          gqa->resume = o->resume;
          gqa->checkpoint_seconds = o->checkpoint_seconds;
          if (given("--log-seconds")) gqa->log_seconds = o->log_seconds;
          gqa->log_path = o->log_path;
          gqa->curves_path = o->curves_path;
          vqa::model::checkTrainGqaOptions(*gqa);
          vqa::cli::checkOutputFile("--out", gqa->out_path);
          if (!gqa->log_path.empty()) vqa::cli::checkOutputFile("--log", gqa->log_path);
          if (!gqa->curves_path.empty()) vqa::cli::checkOutputFile("--curves", gqa->curves_path);
          const auto r = vqa::model::trainGqaModel(*gqa, std::cerr);
          if (gqa->distributed.rank != 0) return;  // rank 0 reports
          std::printf("train: %lld steps (from %lld) in %.1f s; model %s\n", static_cast<long long>(r.steps),
                      static_cast<long long>(r.start_step), r.seconds, gqa->out_path.c_str());
          if (r.last_validation.is_object())
            std::printf("train: held-out program exact-match %.4f on %lld questions\n",
                        r.last_validation["program_exact_match"].get<double>(),
                        static_cast<long long>(r.last_validation["programs_compared"].get<int64_t>()));
          return;
        }
        if (o->data_dir.empty()) throw std::runtime_error("--data DIR is required (or --dataset gqa --questions FILE)");
        if (gqa_steps->count() || !gqa->questions_path.empty() || !gqa->scene_graphs_path.empty())
          throw std::runtime_error("--steps, --questions and --scene-graphs go with --dataset gqa");
        o->model.parser.association.kind = vqa::hopfield::parse_attention_kind(*attention);
        o->model.parser.decoder_layers = o->model.parser.encoder_layers;
        vqa::cli::checkPlainName("--split", o->split);
        if (!o->val_split.empty()) vqa::cli::checkPlainName("--val-split", o->val_split);
        vqa::model::checkTrainQaOptions(*o);
        vqa::cli::checkOutputFile("--out", o->out_path);
        if (!o->log_path.empty()) vqa::cli::checkOutputFile("--log", o->log_path);
        if (!o->curves_path.empty()) vqa::cli::checkOutputFile("--curves", o->curves_path);
        finetune->data_dir = o->data_dir;
        finetune->split = o->split;
        finetune->model_path = o->out_path;
        finetune->seed = o->seed;
        finetune->qa_fraction = app.get_option("--qa-fraction")->count() ? o->qa_fraction : 0;
        finetune->programs = o->programs;
        finetune->threads = o->threads;
        finetune->resume = o->resume;
        finetune->checkpoint_seconds = o->checkpoint_seconds;
        if (finetune->steps > 0) {
          if (o->model.scene != "vision") throw std::runtime_error("--finetune-vision: needs --scene vision");
          vqa::model::checkFinetuneVisionOptions(*finetune);
        }
        // A resumed run whose fine-tuning stage has begun continues that stage (the earlier stages are done).
        const bool in_finetune = o->resume && std::filesystem::exists(o->out_path + ".finetune.bin");
        if (in_finetune && gqa->distributed.world > 1)
          throw std::runtime_error("--resume: " + o->out_path + " is in its fine-tuning stage, which runs in one process");
        if (!in_finetune && !programs_from->empty()) vqa::model::joinSceneParser(*o, *programs_from, std::cerr);
        if (!in_finetune && programs_from->empty()) {
          o->distributed = gqa->distributed;
          const auto r = vqa::model::trainQaModel(*o, std::cerr);
          if (o->distributed.rank != 0) return;  // rank 0 reports
          std::printf("train: %lld steps (from %lld) in %.1f s; model %s\n", static_cast<long long>(r.steps),
                      static_cast<long long>(r.start_step), r.seconds, o->out_path.c_str());
          if (r.last_validation.is_object())
            std::printf("train: last validation: accuracy %.4f, program exact-match %.4f on %d questions\n",
                        r.last_validation["accuracy"].get<double>(),
                        r.last_validation["program_exact_match"].get<double>(),
                        r.last_validation["questions"].get<int>());
        }
        if (finetune->steps > 0) {
          const auto f = vqa::model::finetuneVision(*finetune, std::cerr);
          std::printf("train: scene parser fine-tuned from answers: %lld steps (from %lld) in %.1f s on %lld "
                      "question-answer pairs, last loss %.4f\n", static_cast<long long>(f.steps),
                      static_cast<long long>(f.start_step), f.seconds, static_cast<long long>(f.questions), f.last_loss);
        }
        std::printf("train: model %s\n", o->out_path.c_str());
      });
    });

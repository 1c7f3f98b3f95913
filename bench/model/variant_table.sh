#!/usr/bin/env bash
# Bench: the attention-variant table on the whole engine. The same small engine (a scene parser trained on
# generated renders, a program model trained from 270 programs and question-answer pairs, same data, seed and
# budget) is trained once per attention variant, quantized to W8A8 with `vqa quantize`, and evaluated from the
# pixels of generated validation images in floating point (with the outlier statistics of its attention blocks)
# and in int8; bench_pixel_engine gives the warm ask latency of both and the model sizes. Prints a Markdown table.
# Usage: bench/model/variant_table.sh [WORK_DIR] (default out/variant-table); VARIANTS, VISION_STEPS,
# VAL_IMAGES and THREADS override the defaults below (VQA and BENCH_PIXEL_ENGINE the binaries). Needs a built tree (scripts/test or scripts/demo).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${1:-$root/out/variant-table}
variants=${VARIANTS:-softmax1 softmax clipped gated}
vision_steps=${VISION_STEPS:-300}
val_images=${VAL_IMAGES:-100}
threads=${THREADS:-2}
vqa=${VQA:-$root/build/vqa}
bench=${BENCH_PIXEL_ENGINE:-$root/build/bench/bench_pixel_engine}
export OMP_WAIT_POLICY=PASSIVE
mkdir -p "$work"
cd "$work"

if [ ! -f data.done ]; then
  rm -rf qa qa-val vis val
  "$vqa" generate --out qa --images 500 --split train --seed 11 --no-images --threads "$threads"
  "$vqa" generate --out qa-val --images 100 --split val --seed 12 --no-images --threads "$threads"
  mv qa-val/scenes/* qa/scenes/ && mv qa-val/questions/* qa/questions/ && rm -rf qa-val
  "$vqa" generate --out vis --images 300 --split train --seed 21 --threads "$threads"
  "$vqa" generate --out val --images "$val_images" --split val --seed 31 --threads "$threads"
  touch data.done
fi

for v in $variants; do
  [ -f "$v.done" ] && continue
  echo "== $v =="
  "$vqa" train-vision --data vis --out "vision-$v.bin" --steps "$vision_steps" --attention "$v" --seed 1 \
    --val-images 0 --threads "$threads"
  "$vqa" train --data qa --out "programs-$v.bin" --scene oracle --programs 270 --warm-steps 400 --rounds 1 \
    --round-steps 300 --samples 4 --attention "$v" --threads "$threads" --seed 1
  "$vqa" train --scene vision --programs-from "programs-$v.bin" --vision "vision-$v.bin" --data qa --out "engine-$v.bin"
  "$vqa" quantize --model "engine-$v.bin" --data vis --out "engine-$v-int8.bin" --threads "$threads" --json "quantize-$v.json"
  "$vqa" eval --model "engine-$v.bin" --data val --split val --outliers --threads "$threads" --json "fp32-$v.json"
  "$vqa" eval --model "engine-$v-int8.bin" --data val --split val --threads "$threads" --json "int8-$v.json"
  "$bench" --model "engine-$v.bin" --model "engine-$v-int8.bin" --data val --images 20 --threads "$threads" \
    --repeats 20 > "bench-$v.txt"
  touch "$v.done"
done

echo
echo "Variant table: $vision_steps scene-parser steps on 300 renders, 270 programs + QA pairs on 500 scenes, seed 1;"
echo "evaluated from the pixels of $val_images generated validation images; $threads threads."
echo
echo "| variant | FP32 accuracy | W8A8 accuracy | avg kurtosis | max inf norm | FP32 MB | int8 MB | ask ms FP32 | ask ms int8 |"
echo "|---|---|---|---|---|---|---|---|---|"
for v in $variants; do
  # The warm ask totals of the two models, in the order bench_pixel_engine measured them, at $threads threads.
  mapfile -t asks < <(awk -v t="$threads" '/^\| [0-9]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$/ && $2 == t {print $10}' "bench-$v.txt")
  # nlohmann writes keys sorted: the first "accuracy" is the overall one, the first "avg_kurtosis" the engine's.
  fp=$(grep -o '"accuracy": [0-9.]*' "fp32-$v.json" | head -1 | awk '{printf "%.2f%%", 100 * $2}')
  q=$(grep -o '"accuracy": [0-9.]*' "int8-$v.json" | head -1 | awk '{printf "%.2f%%", 100 * $2}')
  kurt=$(grep -o '"avg_kurtosis": [0-9.e+-]*' "fp32-$v.json" | head -1 | awk '{printf "%.2f", $2}')
  inf=$(grep -o '"max_inf_norm": [0-9.e+-]*' "fp32-$v.json" | head -1 | awk '{printf "%.2f", $2}')
  mb_fp=$(grep -o '"fp32_megabytes": [0-9.]*' "quantize-$v.json" | awk '{printf "%.2f", $2}')
  mb_q=$(grep -o '"int8_megabytes": [0-9.]*' "quantize-$v.json" | awk '{printf "%.2f", $2}')
  echo "| $v | $fp | $q | $kurt | $inf | $mb_fp | $mb_q | ${asks[0]:-?} | ${asks[1]:-?} |"
done

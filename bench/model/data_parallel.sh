#!/usr/bin/env bash
# Bench: data-parallel training of the CLEVR program model, one process against NPROC processes of one thread each.
# The run: oracle scenes, 270 supervised programs, a share of the question-answer pairs, one search-and-learn round.
# Phase 1, the warm start, runs in one process and in NPROC. Phase 2, the round (its program search, then its
# steps), resumes the one-process warm start in one process and in NPROC, so both start from the same weights:
# their searches must find the same pseudo-programs (checked). Prints the wall seconds of each phase and of the
# search alone.
# Usage: bench/model/data_parallel.sh DATA_DIR [WORK_DIR] (default out/data-parallel); NPROC (2), QA_FRACTION (0.1),
# WARM_STEPS (150), ROUND_STEPS (100) override the defaults (VQA the binary). DATA_DIR is a CLEVR-layout folder
# with scenes and questions (vqa generate --no-images is enough).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
data=${1:?usage: bench/model/data_parallel.sh DATA_DIR [WORK_DIR]}
work=${2:-$root/out/data-parallel}
nproc=${NPROC:-2}
warm=${WARM_STEPS:-150}
vqa=${VQA:-$root/build/vqa}
export OMP_WAIT_POLICY=PASSIVE
mkdir -p "$work"
rm -f "$work"/*.bin "$work"/*.jsonl
run="train --data $data --scene oracle --programs 270 --qa-fraction ${QA_FRACTION:-0.1} --warm-steps $warm"
run+=" --rounds 1 --round-steps ${ROUND_STEPS:-100} --val-questions 0 --dropout 0 --threads 1 --seed 1"
seconds() {  # wall seconds of a command, to 0.1 s
  local t0=$(date +%s%N); "$@" > /dev/null 2>> "$work/train.log"
  local ds=$((($(date +%s%N) - t0) / 100000000)); echo "$((ds / 10)).$((ds % 10))"
}
warm_one=$(seconds "$vqa" $run --out "$work/one.bin" --stop-at "$warm")
warm_many=$(seconds "$vqa" $run --out "$work/warm-many.bin" --stop-at "$warm" --nproc "$nproc")
cp "$work/one.bin" "$work/many.bin" && cp "$work/one.bin.metrics.jsonl" "$work/many.bin.metrics.jsonl"
round_one=$(seconds "$vqa" $run --out "$work/one.bin" --resume)
round_many=$(seconds "$vqa" $run --out "$work/many.bin" --resume --nproc "$nproc")
search() { grep -o '"search":{[^}]*}' "$1" | grep -o '"seconds":[0-9.]*' | cut -d: -f2; }
found() { grep -o '"search":{[^}]*}' "$1" | sed 's/"seconds":[0-9.]*//'; }
same=no
[ "$(found "$work/one.bin.metrics.jsonl")" = "$(found "$work/many.bin.metrics.jsonl")" ] && same=yes
echo "| processes | warm start s | round s | its search s |"
echo "|---|---|---|---|"
printf '| 1 | %s | %s | %.1f |\n' "$warm_one" "$round_one" "$(search "$work/one.bin.metrics.jsonl")"
printf '| %d | %s | %s | %.1f |\n' "$nproc" "$warm_many" "$round_many" "$(search "$work/many.bin.metrics.jsonl")"
echo "the round's searches from the same weights found the same pseudo-programs: $same"
echo "settings: $run (VQA $vqa; $(nproc) cores)"

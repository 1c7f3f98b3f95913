#!/usr/bin/env bash
# Bench: data-parallel training of the CLEVR program model. The same run (oracle scenes, 270 supervised programs,
# a share of the question-answer pairs, one search-and-learn round) in one process and in NPROC processes of one
# thread each; prints the wall time of each, the search seconds from the metrics log, and whether the two runs'
# searches found the same pseudo-programs.
# Usage: bench/model/data_parallel.sh DATA_DIR [WORK_DIR] (default out/data-parallel); NPROC (2), QA_FRACTION (0.1),
# WARM_STEPS (150), ROUND_STEPS (100) override the defaults (VQA the binary). DATA_DIR is a CLEVR-layout folder
# with scenes and questions (vqa generate --no-images is enough).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
data=${1:?usage: bench/model/data_parallel.sh DATA_DIR [WORK_DIR]}
work=${2:-$root/out/data-parallel}
nproc=${NPROC:-2}
vqa=${VQA:-$root/build/vqa}
export OMP_WAIT_POLICY=PASSIVE
mkdir -p "$work"
run="train --data $data --scene oracle --programs 270 --qa-fraction ${QA_FRACTION:-0.1} --warm-steps ${WARM_STEPS:-150}"
run+=" --rounds 1 --round-steps ${ROUND_STEPS:-100} --val-questions 0 --dropout 0 --threads 1 --seed 1"
seconds() {  # wall seconds of a command, to 0.1 s
  local t0=$(date +%s%N); "$@" > /dev/null 2>> "$work/train.log"
  local ds=$((($(date +%s%N) - t0) / 100000000)); echo "$((ds / 10)).$((ds % 10))"
}
one=$(seconds "$vqa" $run --out "$work/one.bin")
many=$(seconds "$vqa" $run --out "$work/many.bin" --nproc "$nproc")
search() { grep -o '"search":{[^}]*}' "$1" | grep -o '"seconds":[0-9.]*' | cut -d: -f2; }
found() { grep -o '"search":{[^}]*}' "$1" | sed 's/"seconds":[0-9.]*//'; }
same=no
[ "$(found "$work/one.bin.metrics.jsonl")" = "$(found "$work/many.bin.metrics.jsonl")" ] && same=yes
echo "| processes | wall s | search s |"
echo "|---|---|---|"
printf '| 1 | %s | %.1f |\n' "$one" "$(search "$work/one.bin.metrics.jsonl")"
printf '| %d | %s | %.1f |\n' "$nproc" "$many" "$(search "$work/many.bin.metrics.jsonl")"
echo "same search results: $same"
echo "settings: $run (VQA $vqa; $(nproc) cores)"

#!/usr/bin/env bash
# The paper's MNIST experiments (4.2.1) at full budget, every forecaster beside the controls, in parallel
# processes on one GPU. Usage: bench/paper_mnist_grid.sh OUT_DIR [SEEDS] [PARALLEL]
set -uo pipefail
out=${1:?out dir}; seeds=${2:-"0 1"}; par=${3:-14}
mkdir -p "$out"
jobs=()
for task in mnist1 mnist2 mnist3 mnist4; do
  for seed in $seeds; do
    for f in "none" "introspection" "introspection_linear" "extrapolate --ratio 1.3" "extrapolate --ratio 2.0" \
             "quadratic --ratio 1.25" "linear_fit --ratio 1.1"; do
      name="$task-$(echo $f | tr -d ' -' )-s$seed"
      jobs+=("run $task --forecaster $f --seed $seed --device ${DEVICE:-cuda} --json --no-progress --out $out/$name")
    done
  done
done
printf '%s\n' "${jobs[@]}" | xargs -P "$par" -I{} sh -c 'python3 -m benchmark.cli {} > /dev/null 2>>'"$out"'/errors.log'

#!/usr/bin/env bash
# GPU check: on a machine with CUDA, run the CUDA-marked tests (AMP training steps, channels_last, one-process
# NCCL DDP, export from a CUDA model, bf16 inference) and `dkdpose bench --latency --device cuda` for the paper's
# models, writing everything into one folder; about 8 minutes at most (each part has its own time limit).
#
#     bash tools/gpu_check.sh RESULTS_DIR        # or set $OUT and give no argument
#
# Writes RESULTS_DIR/{environment.txt, cuda_tests.txt, latency_cuda.json, latency_cuda.txt, summary.txt}.
# Without a CUDA device it prints one line saying it skipped and exits 0. $PYTHON picks the interpreter
# (default: python); $GPU_CHECK_TESTS_S and $GPU_CHECK_BENCH_S cap the two parts (default 240 and 200 seconds).
# Exit status: 0 when every part passed (or skipped), 1 otherwise.
set -u
out="${1:-${OUT:-}}"
py="${PYTHON:-python}"
for limit in "${GPU_CHECK_TESTS_S:-240}" "${GPU_CHECK_BENCH_S:-200}"; do
    case "$limit" in
        '' | *[!0-9]* | 0) echo "gpu_check: GPU_CHECK_TESTS_S / GPU_CHECK_BENCH_S must be whole seconds > 0, got '$limit'" >&2
                           exit 2 ;;
    esac
done
if ! "$py" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: skipped, no CUDA device visible to torch"
    exit 0
fi
if [ -z "$out" ]; then
    echo "gpu_check: give the results folder as argument (or set \$OUT)" >&2
    exit 2
fi
mkdir -p "$out"
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
{
    date -u
    nvidia-smi 2>&1 || true
    "$py" -c "import torch, torchvision; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'torchvision', torchvision.__version__)"
} > "$out/environment.txt" 2>&1

timeout "${GPU_CHECK_TESTS_S:-240}" "$py" -m pytest -m cuda tests/training/test_cuda_training.py tests/inference/test_cuda_inference.py \
    -q -p no:cacheprovider -rs > "$out/cuda_tests.txt" 2>&1
tests_rc=$?
# The paper's anchors (GTX 1080Ti): DKD(R18) 6.5 ms, DKD(R50) 11 ms, LSTM PM 25 ms; DKD(SmallCPM) 12 ms.
timeout "${GPU_CHECK_BENCH_S:-200}" "$py" -m dkdpose bench --latency --device cuda \
    --models baseline_r18,dkd_r18,dkd_r50,lstm_pm,dkd_smallcpm,dkd_mobilenetv3 --precision fp32,bf16 \
    --repeats 20 --warmup 3 --out "$out/latency_cuda.json" > "$out/latency_cuda.txt" 2>&1
bench_rc=$?
{
    echo "cuda tests: exit $tests_rc ($(tail -n 1 "$out/cuda_tests.txt"))"
    echo "bench --latency --device cuda: exit $bench_rc"
} > "$out/summary.txt"
cat "$out/summary.txt"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]

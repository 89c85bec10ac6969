#!/usr/bin/env bash
# saev-rs on CUDA beside PyTorch on the same card, in one call (under 8
# minutes): the SAE step (ReLU at init, TopK k32, BatchTopK+AuxK), the seed's
# 24-SAE group, time to first step on a fresh kernel cache, GPU-vs-CPU parity
# (TF32 and bf16), and the ViT-B/16 forward (TF32 and bf16).
#
#   OUT=DIR GPU_REF=DIR tools/gpu/check.sh [SAEV_BIN]
#
# Writes DIR/results.jsonl (one line per step, as it finishes), DIR/logs.txt
# (each step's stderr tail) and DIR/figures.json (figures and ratios).
# SAEV_BIN: default target/release/saev, built with --features cuda and
# CUDARC_CUDA_VERSION matching the driver. GPU_REF: torch_gpu.py
# (../shared/gpu/), saev's seed-era package (saev/) and wheels (whl/:
# open_clip_torch, ftfy, wcwidth, beartype). A step that fails or times out
# is recorded and the rest go on.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-target/release/saev}
out=${OUT:-/tmp/saev-gpu-check}
ref=${GPU_REF:-.gpu}
mkdir -p "$out"
: >"$out/results.jsonl"
: >"$out/logs.txt"
# NVRTC (CubeCL compiles kernels at run time), from CUDA or torch's wheels.
nv=$(python3 -c 'import nvidia,os;print(os.path.dirname(nvidia.__file__))' 2>/dev/null)
for d in /usr/local/cuda/lib64 "$nv/cu13/lib"; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
# A machine that never ran saev-rs: empty kernel caches.
export SAEV_CACHE_DIR=$(mktemp -d)
export RUST_LOG=${RUST_LOG:-warn}
if [ -d "$ref/whl" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --target /tmp/site "$ref"/whl/*.whl >/dev/null 2>&1
  export PYTHONPATH="/tmp/site:$ref:${PYTHONPATH:-}"
fi
export PYTHONUNBUFFERED=1

# step NAME SECONDS COMMAND...: COMMAND's last JSON line into results.jsonl.
step() {
  local name=$1 limit=$2; shift 2
  local t0 t1 rc res
  t0=$(date +%s.%N)
  timeout "$limit" "$@" >/tmp/step.out 2>/tmp/step.err
  rc=$?
  t1=$(date +%s.%N)
  res=$(grep '^{' /tmp/step.out | tail -n 1)
  [ -n "$res" ] || res=null
  echo "{\"name\":\"$name\",\"rc\":$rc,\"wall_s\":$(awk "BEGIN{print $t1 - $t0}"),\"result\":$res}" \
    | tee -a "$out/results.jsonl"
  { echo "== $name (rc $rc)"; tail -n 15 /tmp/step.err; } >>"$out/logs.txt"
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >>"$out/logs.txt" 2>&1
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 250 >/tmp/mem.txt 2>/dev/null &
smi=$!

sae="$bin bench sae --device cuda --d-vit 768 --exp-factor 16 --batch-size 16384"
py="python3 $ref/torch_gpu.py"
# First, on a fresh cache: the start-up figure.
step topk_fresh 75 $sae --activation topk --seconds 4 --parity-steps 10
step torch_topk 45 $py sae --batch 16384 --n-saes 1 --topk 32
step seed_group 80 $sae --activation relu --seed-group --seconds 5
step seed_group_mem 5 sh -c "sort -n /tmp/mem.txt | tail -n 1 | sed 's/.*/{\"peak_mib\": &}/'"
step torch_sweep 60 $py sae --sweep
step relu_init 50 $sae --activation relu --seconds 4
step torch_relu 45 $py sae --batch 16384 --n-saes 1
step topk_cached 40 $sae --activation topk --seconds 3
step batchtopk_aux 50 $sae --activation batch-topk --aux --seconds 2 --parity-steps 10
step vit_b16 60 "$bin" bench vit --device cuda --config ViT-B-16 --batch-size 256 --seconds 4
step torch_vit 40 $py vit --batch 256
step topk_bf16 40 $sae --activation topk --seconds 3 --precision bf16 --parity-steps 10

kill $smi 2>/dev/null
python3 "$here/summarize.py" "$out/results.jsonl" >"$out/figures.json"
cat "$out/figures.json"

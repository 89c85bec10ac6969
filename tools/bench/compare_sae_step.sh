#!/bin/bash
# One run, back to back: saev-rs vs saev's PyTorch step.
cd "$(dirname "$0")/../.."
SAEV=${SAEV:-target/debug/saev}
PY=${PYTHON:-python3}
SECS=${SECS:-25}
py() { $PY tools/bench/saev_sae_step.py --saev-src ${SAEV_SRC:?set SAEV_SRC to a saev checkout's src/} --seconds $SECS "$@"; }
rs() { $SAEV bench sae --seconds $SECS "$@"; }
echo "## torch topk32"; py --activation top-k --target-l0 32
echo "## rs topk32 auto"; rs --activation topk --target-l0 32
echo "## rs topk32 dense"; rs --activation topk --target-l0 32 --path dense
echo "## torch relu l0 100"; py --activation relu --target-l0 100
echo "## rs relu l0 100 auto"; rs --target-l0 100
echo "## rs relu l0 100 dense"; rs --target-l0 100 --path dense
echo "## torch relu init"; py --activation relu
echo "## rs relu init auto"; rs
echo "## rs relu init dense"; rs --path dense
echo "## torch batch-topk32"; py --activation batch-top-k --target-l0 32
echo "## rs batch-topk32 auto"; rs --activation batch-topk --target-l0 32

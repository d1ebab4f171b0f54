#!/usr/bin/env bash
# Sequence-model benchmark: training tokens/s of the byte-level LSTM and GRU
# language models against shared/anchors/peer.sh lstm / gru (PyTorch's fastest
# 2-core configuration), and per-character generation with the step API against
# bench/rnn/torch_generate.py run with peer.sh's settings — all in the same run.
#
#   bash bench/rnn/run.sh [STEPS]      (from the repository root; default 300)
#   CELLS=gru bash bench/rnn/run.sh    (only some cells; default "lstm gru")
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
steps=${1:-300}
peer=${PEER_SH:-$root/../shared/anchors/peer.sh}
source "$root/bench/peer-deps.sh" fortunes   # PyTorch, OpenBLAS, the data
build=$root/build-bench
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" --buildtype=release -Dbench=true -Dtests=false -Dexamples=false >/dev/null
fi
ninja -C "$build" bench/rnn/bench_charlm >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cells=${CELLS:-lstm gru}
for cell in $cells; do
  echo "== $cell training: tiny-dl, then PyTorch via peer.sh"
  "$build/bench/rnn/bench_charlm" train --cell "$cell" --threads 2 --steps "$steps" | tee "$out/tdl_$cell.txt"
  bash "$peer" "$cell" --steps "$steps" | tee "$out/torch_$cell.txt"
  echo "== $cell generation: tiny-dl, then PyTorch"
  "$build/bench/rnn/bench_charlm" generate --cell "$cell" --threads 1 | tee "$out/tdlgen_$cell.txt"
  (unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
   grep -qw avx512f /proc/cpuinfo && export ATEN_CPU_CAPABILITY=avx512
   OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$root/bench/rnn/torch_generate.py" --cell "$cell") |
    tee "$out/torchgen_$cell.txt"
done
/usr/bin/python3 - "$out" $cells <<'PY'
import json, os, sys
d = sys.argv[1]
def summary(name):
    for line in open(os.path.join(d, name)):
        if line.startswith("RESULT summary "):
            return json.loads(line[len("RESULT summary "):])
print()
for cell in sys.argv[2:]:
    a = summary(f"tdl_{cell}.txt")["tokens_per_s_chunks"]["median"]
    b = summary(f"torch_{cell}.txt")["tokens_per_s_chunks"]["median"]
    print(f"{cell.upper()} training tokens/s (median of 25-step chunks): tiny-dl {a:,.0f}  "
          f"PyTorch {b:,.0f}  ratio {a / b:.2f}x")
    x = summary(f"tdlgen_{cell}.txt")["chars_per_s"]
    y = summary(f"torchgen_{cell}.txt")["chars_per_s"]
    print(f"{cell.upper()} generation chars/s (best of 5): tiny-dl {x:,.0f}  PyTorch {y:,.0f}  "
          f"ratio {x / y:.2f}x")
PY

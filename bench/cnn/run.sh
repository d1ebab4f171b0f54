#!/usr/bin/env bash
# CNN benchmark: tiny-dl and PyTorch (through shared/anchors/peer.sh cnn and
# cnn-infer, PyTorch's fastest 2-core configuration, oneDNN convolutions) in
# the same run; prints training images/s, inference latency at batch 1 and 64,
# peak RSS, and the ratios.
#
#   bash bench/cnn/run.sh [EPOCHS]      (from the repository root; default 2)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
epochs=${1:-2}
peer=${PEER_SH:-$root/../shared/anchors/peer.sh}
source "$root/bench/peer-deps.sh" dataset-fashion-mnist   # PyTorch, OpenBLAS, the data
build=$root/build-bench
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" --buildtype=release -Dbench=true -Dtests=false -Dexamples=false >/dev/null
fi
ninja -C "$build" bench/cnn/bench_cnn >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "== tiny-dl training ($epochs epochs)"
"$build/bench/cnn/bench_cnn" train --epochs "$epochs" --threads 2 | tee "$out/tdl_train.txt"
echo "== PyTorch training via peer.sh cnn ($epochs epochs)"
bash "$peer" cnn --epochs "$epochs" | tee "$out/torch_train.txt"
echo "== tiny-dl inference"
"$build/bench/cnn/bench_cnn" infer --threads 2 --runs 500 | tee "$out/tdl_infer.txt"
echo "== PyTorch inference via peer.sh cnn-infer"
bash "$peer" cnn-infer --runs 500 | tee "$out/torch_infer.txt"
/usr/bin/python3 - "$out" <<'PY'
import json, os, sys
d = sys.argv[1]
def summaries(name):
    out = []
    for line in open(os.path.join(d, name)):
        if line.startswith("RESULT summary "):
            out.append(json.loads(line[len("RESULT summary "):]))
    return out
t, p = summaries("tdl_train.txt")[0], summaries("torch_train.txt")[0]
ti = {s["batch"]: s for s in summaries("tdl_infer.txt")}
pi = {s["batch"]: s for s in summaries("torch_infer.txt")}
a, b = t["epoch_images_per_s"]["median"], p["epoch_images_per_s"]["median"]
ca, cb = t["chunk_images_per_s"]["median"], p["chunk_images_per_s"]["median"]
print(f"\nCNN training images/s (median of epochs): tiny-dl {a:,.0f}  PyTorch {b:,.0f}  ratio {a/b:.2f}x")
print(f"CNN training images/s (median of 100-step chunks): tiny-dl {ca:,.0f}  PyTorch {cb:,.0f}  ratio {ca/cb:.2f}x")
for bs in (1, 64):
    x, y = ti[bs]["latency_ms"]["median"], pi[bs]["latency_ms"]["median"]
    print(f"inference latency batch {bs}: tiny-dl {x:.3f} ms  PyTorch {y:.3f} ms  ratio {x/y:.2f}x")
print(f"peak RSS while training: tiny-dl {t['peak_rss_mib']:.0f} MiB  PyTorch {p['peak_rss_mib']:.0f} MiB  "
      f"ratio {t['peak_rss_mib']/p['peak_rss_mib']:.2f}x")
PY

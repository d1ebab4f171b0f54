#!/usr/bin/env bash
# MLP training benchmark: tiny-dl and PyTorch (through shared/anchors/peer.sh,
# PyTorch's fastest 2-core configuration) in the same run, then the ratio.
#
#   bash bench/mlp/run.sh [EPOCHS]      (from the repository root; default 5)
#
# Installs what the PyTorch peer needs (bench/peer-deps.sh) when run as root.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
epochs=${1:-5}
peer=${PEER_SH:-$root/../shared/anchors/peer.sh}
source "$root/bench/peer-deps.sh" dataset-fashion-mnist   # PyTorch, OpenBLAS, the data
build=$root/build-bench
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" --buildtype=release -Dbench=true -Dtests=false -Dexamples=false >/dev/null
fi
ninja -C "$build" bench/mlp/bench_mlp >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "== tiny-dl ($epochs epochs)"
"$build/bench/mlp/bench_mlp" --epochs "$epochs" --threads 2 | tee "$out/tdl.txt"
echo "== PyTorch via peer.sh mlp ($epochs epochs)"
bash "$peer" mlp --epochs "$epochs" | tee "$out/torch.txt"
/usr/bin/python3 - "$out/tdl.txt" "$out/torch.txt" <<'PY'
import json, sys
def summary(path):
    for line in open(path):
        if line.startswith("RESULT summary "):
            return json.loads(line[len("RESULT summary "):])
    raise SystemExit(f"no summary line in {path}")
t, p = summary(sys.argv[1]), summary(sys.argv[2])
a = t["epoch_images_per_s_excl_first"]["median"]
b = p["epoch_images_per_s_excl_first"]["median"]
print(f"\nMLP training, median images/s over epochs 2..: tiny-dl {a:,.0f}  PyTorch {b:,.0f}  "
      f"ratio {a / b:.2f}x  (peak RSS tiny-dl {t['peak_rss_mib']:.0f} MiB, "
      f"PyTorch {p['peak_rss_mib']:.0f} MiB)")
PY

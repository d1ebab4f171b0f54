"""PyTorch side of the generation benchmark (bench/rnn/run.sh runs it with the
settings of shared/anchors/peer.sh: Debian's python3, OPENBLAS_CORETYPE unset,
ATEN_CPU_CAPABILITY=avx512 where available, one thread, which is fastest for
batch-1 work). The model of torch_charlm_rnn.py (Embedding(V,64) -> LSTM/GRU
256 -> Linear(256,V)) in eval mode generates one character at a time, carrying
the recurrent state, sampling at temperature 0.8; best of 5 runs.
Usage: /usr/bin/python3 torch_generate.py --cell lstm --chars 1000
"""
import argparse, json, sys, time

import torch
import torch.nn as nn



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    ap.add_argument("--chars", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--vocab", type=int, default=98)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    V = a.vocab
    emb = nn.Embedding(V, 64)
    rnn = (nn.LSTM if a.cell == "lstm" else nn.GRU)(64, 256, batch_first=True)
    out = nn.Linear(256, V)
    for m in (emb, rnn, out):
        m.eval()

    def generate(n):
        idx = torch.tensor([[1]])
        state = None
        with torch.no_grad():
            for _ in range(n):
                h, state = rnn(emb(idx), state)
                p = torch.softmax(out(h[:, -1]) / 0.8, -1)
                idx = torch.multinomial(p, 1)

    generate(100)
    best = 1e30
    for _ in range(5):
        t = time.perf_counter()
        generate(a.chars)
        best = min(best, (time.perf_counter() - t) / a.chars)
    print("RESULT summary " + json.dumps(dict(cell=a.cell, threads=a.threads, chars=a.chars,
                                              us_per_char_best=best * 1e6,
                                              chars_per_s=1.0 / best, torch=torch.__version__)))


if __name__ == "__main__":
    main()

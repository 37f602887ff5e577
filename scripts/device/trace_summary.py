#!/usr/bin/env python3
"""Sums a kernel trace (`sdpp_unet_bench --graph --trace FILE.csv`) by kind of kernel, for its last replay.

    python3 scripts/device/trace_summary.py FILE.csv [--list]

Kinds: the library's kernels by family (cuBLASLt GEMMs, cuDNN convolutions and attention, 2-d copies) and the
backend's own kernels by function name. Durations are device start to end; under dependent launch an own kernel's
duration includes the time it waited for the kernel before it, so compare own kernels with SDPP_CUDA_PDL=0 traces.
--list prints every kernel of the replay in order.
"""
import collections
import csv
import re
import signal
import sys

# The scripts pipe the summary into `head`: end quietly when it stops reading.
signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def kind(name):
    if "sdpp::cuda" in name:
        m = re.search(r"::(\w+)(<[^(]*)?\(", name.replace("(anonymous namespace)::", ""))
        return "own " + (m.group(1) if m else name[:60])
    if "sdpa" in name:
        return "cudnn attention"
    if "fprop" in name or "cask" in name or "nhwcAddPadding" in name or "nchwToNhwc" in name:
        return "cudnn convolution"
    if "nvjet" in name or "cublasLt" in name or "gemm" in name:
        return "cublasLt gemm"
    if "memcpy" in name:
        return "2-d copy"
    return "other " + name[:50]


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    last = max(int(r["replay"]) for r in rows)
    rows = [r for r in rows if int(r["replay"]) == last]
    if "--list" in sys.argv:
        for r in rows:
            print(f"{r['index']:>4} {float(r['duration_us']):7.1f} {float(r['gap_before_us']):5.1f} "
                  f"{r['blocks']:>6}x{r['threads']:<5} {kind(r['name'])}: {r['name'][:60]}")
    total = collections.defaultdict(lambda: [0.0, 0])
    for r in rows:
        t = total[kind(r["name"])]
        t[0] += float(r["duration_us"])
        t[1] += 1
    print(f"{sum(t[0] for t in total.values()):9.1f} us in {len(rows)} kernels")
    for k, t in sorted(total.items(), key=lambda kv: -kv[1][0]):
        print(f"{t[0]:9.1f} us {t[1]:4d}  {k}")


if __name__ == "__main__":
    main()

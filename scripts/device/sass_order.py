#!/usr/bin/env python3
"""Order of the wgmma waits, HGMMAs and exponentials in a kernel's SASS: whether the softmax overlaps a product.

ON THE GPU MACHINE (cuobjdump is there, not here), on an object compiled anywhere with sm_90a:
  nvcc -std=c++20 -O3 -arch=sm_90a -DSDPP_CUDA_SM90A=1 --expt-relaxed-constexpr -Isrc -Iinclude \
      -c src/backend/cuda/flash_attention_sm90.cu -o out/fa.o          # out/ is git-ignored: carry it
  cuobjdump -sass out/fa.o | python3 scripts/device/sass_order.py I6__halfLi40E
prints, for each function whose mangled name contains the argument, one letter per instruction of interest:
W1 / W0 for WARPGROUP.DEPBAR.LE gsb0, 0x1 / 0x0, g for HGMMA, eN for a run of N MUFU.EX2. "W1 e34 W0" would be a
softmax between the two waits; "W1 W0 e34" is one that waits for the PV product first.
"""
import re
import sys

pattern = sys.argv[1] if len(sys.argv) > 1 else ""
for function in re.split(r"^\s*Function : ", sys.stdin.read(), flags=re.M)[1:]:
    name = function.split("\n")[0]
    if pattern not in name:
        continue
    letters = []
    for ins in re.findall(r"/\*[0-9a-f]{4}\*/\s+(.*?);", function):
        if "DEPBAR" in ins:
            letters.append("W1" if "0x1" in ins else "W0")
        elif "MUFU.EX2" in ins:
            letters.append("e")
        elif "HGMMA" in ins:
            letters.append("g")
    print(name[-70:])
    print(re.sub(r"e{2,}", lambda m: "e%d" % len(m.group(0)), "".join(letters)))

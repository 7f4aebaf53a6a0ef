#!/usr/bin/python3
"""Compares two folders of .npy outputs: the largest difference relative to the largest magnitude of
the reference output. Prints one line per output and exits 1 when any exceeds the tolerance.
  compare.py REF_DIR GOT_DIR [--tol 1e-4]"""
import os
import sys

import numpy as np

ref, got = sys.argv[1], sys.argv[2]
tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-4
worst = 0.0
for name in sorted(os.listdir(ref)):
    a = np.load(os.path.join(ref, name)).astype(np.float64)
    b = np.load(os.path.join(got, name)).astype(np.float64)
    if a.shape != b.shape:
        print(f"{name}: shape {b.shape}, expected {a.shape}")
        sys.exit(1)
    scale = max(np.abs(a).max(), 1e-30) if a.size else 1.0
    rel = float(np.abs(a - b).max() / scale) if a.size else 0.0
    worst = max(worst, rel)
    print(f"{name}: max |diff| / max |ref| = {rel:.2e}")
sys.exit(0 if worst <= tol else 1)

#!/usr/bin/env python3
"""A Megatron indexed dataset of uniformly random tokens, for memory and start-up measurements:
PREFIX.bin (uint16 tokens below VOCAB) and PREFIX.idx (one sequence per document of LENGTH
tokens), written in 64 MB chunks.

    python3 jobs/architecture-and-scaling/random-dataset.py PREFIX GIGABYTES [VOCAB] [LENGTH]
"""
import sys
import numpy as np

prefix, gigabytes = sys.argv[1], float(sys.argv[2])
vocab = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
length = int(sys.argv[4]) if len(sys.argv) > 4 else 2048
documents = int(gigabytes * 1e9) // (2 * length)
rng = np.random.default_rng(1)
with open(prefix + ".bin", "wb") as f:
    chunk = (64 << 20) // (2 * length)  # documents per 64 MB
    for start in range(0, documents, chunk):
        n = min(chunk, documents - start)
        f.write(rng.integers(0, vocab, size=n * length, dtype=np.uint16).astype("<u2").tobytes())
with open(prefix + ".idx", "wb") as f:
    f.write(b"MMIDIDX\x00\x00")
    f.write(np.array([1], "<u8").tobytes() + bytes([8]) + np.array([documents, documents + 1], "<u8").tobytes())
    f.write(np.full(documents, length, "<i4").tobytes())
    f.write((np.arange(documents, dtype="<i8") * 2 * length).tobytes())
    f.write(np.arange(documents + 1, dtype="<i8").tobytes())

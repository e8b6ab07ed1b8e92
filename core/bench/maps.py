"""`python -m core bench --maps`: how long a word map takes, from request to final layout.

Trains PTB with the default settings (or opens `--run`), then lays out the most frequent words
with each method the way the Projection page asks for them (`core.explore.projection.word_map`: the
layout, k-means clusters and the frame). The first call of a method in a process includes its
imports and, for UMAP, numba's compilation, as the app's first request of that method does;
the median of the next calls is what every later request costs. t-SNE also reports when its
first progress frame arrived.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from core.config import TrainConfig
from core.explore.projection import METHODS, Settings, word_map
from core.explore.vectors import Embeddings
from core.job import train_run
from core.runs import Run


def timed(embeddings: Embeddings, settings: Settings) -> dict[str, float]:
    """Wall and CPU seconds of one map, the progress frames it reported and when the first came."""
    frames: list[float] = []
    began, cpu = time.perf_counter(), time.process_time()
    word_map(embeddings, settings, progress=lambda done, total, coords: frames.append(time.perf_counter() - began))
    return {
        "wall_s": time.perf_counter() - began,
        "cpu_s": time.process_time() - cpu,
        "frames": len(frames),
        "first_frame_s": frames[0] if frames else float("nan"),
    }


def embeddings_for(args: argparse.Namespace) -> Embeddings:
    if args.run:
        return Embeddings.from_run(Run.open(args.run))
    with tempfile.TemporaryDirectory(prefix="bench-maps-") as folder:
        run = Run.create(TrainConfig(corpus="ptb"), name="bench-maps", root=folder)
        train_run(run, data_dir=args.data_dir)
        return Embeddings.from_run(run)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m core bench --maps", description=__doc__)
    parser.add_argument("--words", type=int, default=1000, help="words on the map (the page's default)")
    parser.add_argument("--repeats", type=int, default=3, help="calls after the first, whose median is shown")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--run", help="an existing run (name or folder) instead of training PTB")
    parser.add_argument("--data-dir", help="folder with ptb.zip (default: $W2V_DATA_DIR, then the cache)")
    args = parser.parse_args(argv)
    embeddings = embeddings_for(args)
    print(f"{args.words:,} most frequent words, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the start")
    print("method | first call s | median of next s | CPU s | frames | first frame s")
    for method in args.methods:
        settings = Settings(method=method, n_words=args.words)
        first = timed(embeddings, settings)
        later = [timed(embeddings, settings) for _ in range(args.repeats)]
        median = statistics.median(r["wall_s"] for r in later)
        cpu = statistics.median(r["cpu_s"] for r in later)
        frame = statistics.median(r["first_frame_s"] for r in later)
        frames = later[0]["frames"]
        print(f"{method:6} | {first['wall_s']:12.2f} | {median:16.2f} | {cpu:5.2f} | {frames:6} | {frame:13.2f}")
    return 0

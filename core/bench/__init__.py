"""Benchmarks, run by `python -m core bench`: the side-by-side table of our modes and gensim (quiet or with
busy processes), the GPU check (`--gpu-check`), quality against centers in flight (`--in-flight`), maps
(`--maps`), the Inside the model page's sections (`--chapter`) and watching a run in the app (`--watch`).

Imported by nothing but the command line's dispatch; may import anything in `core`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from core.bench.load import busy
from core.bench.side_by_side import measure, measure_all, parse, scale_line, stream_check, summarise, table, warm_up


def main(argv: list[str]) -> int:
    if "--watch" in argv:
        from core.bench.watch import main as watch_main

        return watch_main([a for a in argv if a != "--watch"])
    if "--chapter" in argv:
        from core.bench.chapter import main as chapter_main

        return chapter_main([a for a in argv if a != "--chapter"])
    if "--in-flight" in argv:
        from core.bench.in_flight import main as in_flight_main

        return in_flight_main([a for a in argv if a != "--in-flight"])
    if "--maps" in argv:
        from core.bench.maps import main as maps_main

        return maps_main([a for a in argv if a != "--maps"])
    args = parse(argv)
    if args.gpu_check:
        from core.bench.gpu import gpu_check

        return gpu_check(args)
    warm_up()
    with busy(args.busy) as pids:
        results = measure_all(args)
    rows = summarise(results) if results else {}
    report = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "cores": os.cpu_count(), "args": vars(args) | {"json": None}}
    if rows:
        print(f"\nPTB, {args.epochs} epochs, medians over seeds {args.seeds}, {os.cpu_count()} cores, {args.device}")
        if args.busy:
            print(f"busy machine: {args.busy} other processes spun on the CPU throughout (pids {pids}, now ended)")
        print(table(rows))
    for system, row in rows.items():
        print(f"{system} chip top-10: {', '.join(row['chip_top10'])}")
    if args.stream:
        report["stream"] = stream_check(args)
    if args.scale:
        scale = measure(f"scale:{args.scale}", args.seeds[0], args)
        print(scale_line(scale))
        report["scale"] = scale
    report |= {"rows": rows, "runs": results}
    target = args.json or Path("bench-results") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"results written to {target}")
    return 0

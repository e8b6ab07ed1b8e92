"""One rank of a data-parallel test run, started by torchrun from tests/test_core_distributed.py.

Usage: torchrun --nproc_per_node=N tests/distributed_worker.py CORPUS MODE OUT_DIR

Trains on CORPUS with the given mode and writes OUT_DIR/rank<R>.json: a digest of the model
taken right after every synchronisation (fast mode: each weight merge; book mode: each
optimizer step, which follows the gradient all-reduce), and how many centers this rank trained.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

from core import distributed
from core.config import TrainConfig
from core.data.corpora import read_text_file
from core.data.prepared import Prepared
from core.trainer import Trainer


def digest(trainer: Trainer) -> str:
    return hashlib.sha256(b"".join(t.cpu().numpy().tobytes() for t in trainer.vectors())).hexdigest()


def record_after(owner: object, name: str, trainer: Trainer, digests: list[str]) -> None:
    """Wrap `owner.name` so that the model's digest is taken after each call."""
    original = getattr(owner, name)

    def wrapped(*args: object, **kwargs: object) -> object:
        result = original(*args, **kwargs)
        digests.append(digest(trainer))
        return result

    setattr(owner, name, wrapped)


def main(corpus: str, mode: str, out_dir: str) -> None:
    world = distributed.start()
    cfg = TrainConfig(
        corpus=corpus, mode=mode, min_freq=2, subsample=1e-2, embed_size=16, epochs=2, batch_size=64, threads=1
    )
    data = Prepared.build(read_text_file(corpus), cfg.min_freq, torch.device("cpu"))
    trainer = Trainer(cfg.replace(sync_every=2), data, world=world)
    digests: list[str] = []
    if mode == "book":
        record_after(trainer.engine.optimizer, "step", trainer, digests)
    else:
        trainer.engine.chunk = 256  # many steps, hence many merges, on a small corpus
        record_after(trainer.replicas, "sync", trainer, digests)
    outcome = trainer.train()
    report = {"rank": world.rank, "size": world.size, "digests": digests, "centers": outcome.centers}
    Path(out_dir, f"rank{world.rank}.json").write_text(json.dumps(report))
    distributed.finish()


if __name__ == "__main__":
    main(*sys.argv[1:4])
    distributed.exit_skipping_teardown(0)

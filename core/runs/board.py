"""A run folder is also a TensorBoard log directory: `tensorboard --logdir <runs folder>` lists each run by name.

The job hands every loss point to a `Board` (a training callback): `loss/step` gets one scalar per step point of
the metrics, numbered 1, 2, ... over the whole run, and `loss/epoch` one per epoch at the epoch's number, each at
the point's own wall time. A resume numbers on from the step points the run kept and opens its event file with
`purge_step` just past them, so TensorBoard drops the points of the interrupted epoch (as the metrics file does)
instead of showing them twice. When the run finishes, its final vectors (of its `MAX_PROJECTED` most frequent
words) are written as the Projector's TSV pair with a `projector_config.pbtxt` naming them, which TensorBoard's
projector reads. They are written once, at the end: each epoch's checkpoint stays as cheap as its weights, and a
new checkpoint removes the pair of an earlier finish (the run's vectors are the checkpoint's again).

Writing must never stop a training: the first failure is reported once (on standard error, which the app keeps
in the run's log) and the board writes nothing more. The file names are `core.runs.folder`'s.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.runs.folder import PROJECTOR_VECTORS, PROJECTOR_WORDS, Run
from core.runs.records import MetricRow

STEP_TAG, EPOCH_TAG = "loss/step", "loss/epoch"
FLUSH_S = 2  # a TensorBoard open on a training run sees its points within seconds (it reloads every 5 s)
# The projector loads every vector into the browser: 100,000 of dimension 100 are 40 MB there and about 10 s of
# writing here (PTB's 6,718 words take 0.7 s); a larger vocabulary shows its most frequent words.
MAX_PROJECTED = 100_000
WritePair = Callable[[tuple[Path, Path], list[str], np.ndarray, np.ndarray], object]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Board:
    """The TensorBoard side of one training session of `run` (rank 0 only: the others write nothing)."""

    def __init__(self, run: Run, report: Callable[[str], None] = _stderr) -> None:
        self.run = run
        self.report = report
        self.writer = None  # a torch.utils.tensorboard.SummaryWriter once `open` succeeds
        self.steps = 0  # step points of the run so far: the global step of the last one
        self.failed = False

    def open(self, resumed: bool) -> None:
        """Start this session's event file, after a resume has cut the metrics back to its checkpoint."""
        self.steps = sum(1 for row in self.run.metrics() if row.kind == "step")
        purge_step = self.steps + 1 if resumed else None
        self._guarded(lambda: self._start(purge_step))

    def _start(self, purge_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: 0.1 s, only where a run trains

        self.writer = SummaryWriter(str(self.run.board_folder()), purge_step=purge_step, flush_secs=FLUSH_S)

    def __call__(self, row: MetricRow) -> None:
        if self.writer is None:
            return
        if row.kind == "step":
            self.steps += 1
            self._guarded(lambda: self.writer.add_scalar(STEP_TAG, row.loss, self.steps, walltime=row.time))
            return
        self._guarded(lambda: self.writer.add_scalar(EPOCH_TAG, row.loss, row.epoch, walltime=row.time))
        self._guarded(lambda: self.writer.flush())  # an epoch's points are on disk before the next epoch begins

    def projector(self, words: list[str], vectors: np.ndarray, counts: np.ndarray, write_pair: WritePair) -> None:
        """Write the run's final vectors of its MAX_PROJECTED most frequent words (its vocabulary's first) with
        `write_pair` (the Projector's TSV pair), then the config that shows them in TensorBoard's projector under
        the run's name."""
        n = MAX_PROJECTED
        self._guarded(lambda: self._projector(lambda paths: write_pair(paths, words[:n], vectors[:n], counts[:n])))

    def _projector(self, write: Callable[[tuple[Path, Path]], object]) -> None:
        from google.protobuf import text_format
        from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

        write(self.run.projector_files())
        config = ProjectorConfig()
        embedding = config.embeddings.add()
        embedding.tensor_name = self.run.name
        embedding.tensor_path, embedding.metadata_path = PROJECTOR_VECTORS, PROJECTOR_WORDS  # beside the config
        self.run.save_projector_config(text_format.MessageToString(config))

    def close(self) -> None:
        """Flush and close the event file (at the end of the session, however it ends)."""
        writer, self.writer = self.writer, None
        if writer is not None:
            self._guarded(writer.close)

    def _guarded(self, action: Callable[[], object]) -> None:
        """Run `action` unless writing failed before; a failure is reported once and ends the board's writing."""
        if self.failed:
            return
        try:
            action()
        except Exception as exc:  # whatever TensorBoard's writer raises (a full disk, a missing package...)
            self.failed = True
            self.writer = None
            self.report(
                f"warning: run {self.run.name}: TensorBoard's files cannot be written ({exc}); "
                "training goes on without them"
            )

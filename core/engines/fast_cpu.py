"""The fast mode on the CPU: worker threads that each train their own stretch of the epoch.

Each worker calls the compiled kernel on one chunk of centers at a time; the kernel builds the
chunk's contexts and draws its noise words itself and releases the GIL, so the workers run in
parallel and meet only at the end of a segment (with data-parallel replicas, at every step, where
the replicas merge). The trainer's thread just waits for progress, which it reports as steps.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import torch

from core.data.sampling import EpochSample, NoiseTable
from core.engines.base import PlainSgd, Steps, learning_rates
from core.engines.kernel_batched import noise_thresholds
from core.engines.kernel_numba import train_chunk
from core.engines.stretches import Stretches
from core.model import SkipGram

REPORT_CENTERS = 16_384  # centers per reported step: the trainer's events and replica merges
KERNEL_CHUNK = 1_024  # centers per kernel call: about a millisecond, the most a worker holds back at the end


class FastCpuEngine(PlainSgd):
    shuffles = False  # word2vec streams the corpus in order; a random order gains nothing here
    chunk = REPORT_CENTERS
    splittable = True  # steps are reporting points only: any size trains the same

    def __init__(
        self, model: SkipGram, lr: float, negatives: int, noise: NoiseTable, workers: int, lockstep: bool = False
    ) -> None:
        """`lockstep`: every step ends with all workers idle (replicas merge there); else only segments do."""
        self.tables = (model.embed_v.weight.data, model.embed_u.weight.data)
        self.v, self.u = (table.numpy() for table in self.tables)
        self.lr = lr
        self.negatives = negatives
        self.threshold = noise_thresholds(noise.prob.numpy())
        self.alias = noise.alias.numpy()
        self.workers = workers
        self.lockstep = lockstep

    def run(
        self, sample: EpochSample, bounds: list[tuple[int, int]], span: tuple[float, float], gen: torch.Generator
    ) -> Iterator[Steps]:
        arrays = (
            sample.ids.numpy().astype(np.int64, copy=False),
            sample.sentence.numpy().astype(np.int64, copy=False),
            sample.window.numpy(),
        )
        lr = learning_rates(self.lr, span)
        seed = int(torch.randint(0, 1 << 62, (), generator=gen))
        # Kernel calls no longer than a step, so a tiny corpus's short steps each report their own progress.
        chunk = max(1, min(KERNEL_CHUNK, max((stop - start for start, stop in bounds), default=KERNEL_CHUNK)))
        for group in [[b] for b in bounds] if self.lockstep else [bounds]:
            pool = _Pool(self, arrays, sample.max_window, lr, seed, (group[0][0], group[-1][1], chunk))
            try:
                yield from pool.progress([stop for _, stop in group])
            finally:
                pool.close()


class _Pool:
    """Worker threads training one stretch of a sample's centers, and what they have done so far."""

    def __init__(
        self,
        engine: FastCpuEngine,
        arrays: tuple[np.ndarray, ...],
        max_window: int,
        lr: tuple[float, ...],
        seed: int,
        span: tuple[int, int, int],
    ) -> None:
        """`span`: the first and past-the-last center to train, and the centers per kernel call."""
        self.engine, self.arrays, self.max_window, self.lr, self.seed = engine, arrays, max_window, lr, seed
        start, stop, chunk = span
        self.stretches = Stretches(start, stop, chunk, engine.workers)
        self.start = start
        self.wanted = stop  # the trainer's thread sleeps until `done` reaches this
        # (done, loss, scored) after each kernel call: workers that ran past several marks while the trainer's
        # thread slept still report each mark's own step (a tiny corpus trains an epoch between two wake-ups)
        self.totals: list[tuple[int, float, int]] = [(start, 0.0, 0)]
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.changed = threading.Condition()
        self.threads = [
            threading.Thread(target=self._work, args=(w,), name=f"w2v-worker-{w}", daemon=True)
            for w in range(engine.workers)
        ]
        for thread in self.threads:
            thread.start()

    def _work(self, worker: int) -> None:
        engine = self.engine
        try:
            while not self.stopping.is_set() and (claim := self.stretches.claim(worker)):
                _, first, stop = claim
                loss, scored = train_chunk(
                    engine.v, engine.u, *self.arrays, first, stop, self.max_window,
                    engine.threshold, engine.alias, engine.negatives, *self.lr, self.seed,
                )  # fmt: skip
                with self.changed:
                    done, total, count = self.totals[-1]
                    self.totals.append((done + stop - first, total + loss, count + scored))
                    if done + stop - first >= self.wanted:
                        self.changed.notify()
        except BaseException as exc:  # handed to the trainer's thread, which raises it
            with self.changed:
                self.error = exc
                self.changed.notify()

    def progress(self, marks: list[int]) -> Iterator[Steps]:
        """One step per mark: wait until the workers have trained up to it, then report what is new."""
        reported, reported_loss, reported_scored = self.start, 0.0, 0
        index = 0
        for mark in marks:
            with self.changed:
                self.wanted = mark
                self.changed.wait_for(lambda m=mark: self.totals[-1][0] >= m or self.error is not None)
                if self.error is not None:
                    raise self.error
                while self.totals[index][0] < mark:
                    index += 1
                done, loss, scored = self.totals[index]
            yield done - reported, torch.tensor(loss - reported_loss, dtype=torch.float64), scored - reported_scored
            reported, reported_loss, reported_scored = done, loss, scored

    def close(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

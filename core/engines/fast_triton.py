"""The fast mode on a CUDA GPU: the per-center batched kernel of `core.engines.kernel_triton`, many centers in flight.

A step hands the trainer's sample range to the kernel, which reads contexts from the epoch sample and draws
noise words itself, so the host does no work per step beyond the launch. `in_flight` programs each walk
their own stretch of the epoch; how many is the concurrency/quality lever (`default_in_flight`). The update
is per center, as on the CPU: `batch_size` (the book mode's centers per Adam step) plays no part.

A GPU that cannot run the kernel is never the user's problem: `gpu_fast_engine` checks the kernel once on a
tiny problem against the CPU reference and, if Triton is missing, the kernel fails to compile or its
answer disagrees, says so in one line and trains on the tensor engine (`core.engines.fast_torch`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator

import numpy as np
import torch

from core.data.sampling import EpochSample, NoiseTable
from core.engines.base import Engine, PlainSgd, Steps, learning_rates
from core.engines.fast_torch import FastEngine
from core.engines.kernel_batched import noise_thresholds, stretch_bounds, train_in_flight
from core.model import SkipGram

GPU_STEP = 1 << 22  # centers per launch at most; steps are only reporting points, so this bounds their time
IN_FLIGHT_C = 1.0  # provisional: centers in flight per collision class of the noise (see `default_in_flight`)
MIN_IN_FLIGHT = 32
PROBE_SEED = 0x5EED  # the kernel check's tables, corpus and noise


def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def noise_probabilities(noise: NoiseTable) -> np.ndarray:
    """The distribution an alias table draws: column c gives c with prob[c] and alias[c] otherwise, each 1/V."""
    prob, alias = noise.prob.cpu().numpy(), noise.alias.cpu().numpy()
    return (prob + np.bincount(alias, weights=1.0 - prob, minlength=prob.size)) / prob.size


def default_in_flight(noise_prob: np.ndarray, k: int, device: torch.device) -> int:
    """Centers in flight: clamp(IN_FLIGHT_C * (1 / sum p^2) / (k + 1), 32, 2 * SMs) on CUDA; one elsewhere.

    1 / sum p^2 counts the noise distribution's equally likely words (about 570 on PTB), each center holds
    k + 1 output rows, so this keeps the chance that two programs hold one row at once about fixed.
    """
    if device.type != "cuda":
        return 1
    p = np.asarray(noise_prob, dtype=np.float64)
    p = p / p.sum()
    wanted = round(IN_FLIGHT_C / float(np.sum(p * p)) / (k + 1))
    return min(max(wanted, MIN_IN_FLIGHT), 2 * torch.cuda.get_device_properties(device).multi_processor_count)


class GpuFastEngine(PlainSgd):
    shuffles = False  # word2vec streams the corpus in order; each program walks its own stretch of it
    splittable = True  # steps are launches only: any size trains the same centers in the same order
    chunk = GPU_STEP

    def __init__(self, model: SkipGram, lr: float, negatives: int, noise: NoiseTable, in_flight: int = 0) -> None:
        from core.engines.kernel_triton import train_slice  # Triton is needed on this path only

        super().__init__(model, lr, negatives, noise)
        self.kernel = train_slice
        device = self.v.device
        self.threshold = torch.as_tensor(noise_thresholds(noise.prob.cpu().numpy())).to(device)
        self.alias = noise.alias.to(device=device, dtype=torch.int64)
        self.in_flight = in_flight or default_in_flight(noise_probabilities(noise), negatives, device)

    def run(
        self, sample: EpochSample, bounds: list[tuple[int, int]], span: tuple[float, float], gen: torch.Generator
    ) -> Iterator[Steps]:
        """One launch per step. Every center of an epoch sample has a context (`sample_epoch` drops tokens
        alone in their sentence), so the centers scored are the centers trained, which the host counts."""
        lr_from, lr_to = learning_rates(self.lr, span)
        seed = torch.randint(0, 1 << 62, (1,), generator=gen, device=gen.device)  # drawn there: no host sync
        n = len(sample)
        for start, stop in bounds:
            first, last = stretch_bounds(n, self.in_flight, start, stop)
            trained = int((last - first).sum())
            result = self.kernel(
                self.v, self.u, sample.ids, sample.sentence, sample.window, sample.max_window, self.threshold,
                self.alias, self.negatives, seed, lr_from, lr_to, self.in_flight, start, stop,
            )  # fmt: skip
            yield trained, result[0], trained


def gpu_fast_engine(
    model: SkipGram,
    lr: float,
    negatives: int,
    noise: NoiseTable,
    max_window: int,
    batch_size: int,
    notify: Callable[[str], None],
) -> Engine:
    """The Triton engine if its kernel passes `kernel_fault`'s check; else the tensor engine, and one line
    through `notify` that says why."""
    fault = kernel_fault(model.embed_v.weight.device, model.embed_v.weight.shape[1], negatives, max_window)
    if fault is None:
        return GpuFastEngine(model, lr, negatives, noise)
    notify(f"The GPU kernel is not used ({fault}): training goes on with the tensor engine, more slowly")
    return FastEngine(model, lr, negatives, noise, batch_size)


def kernel_fault(device: torch.device, dim: int, k: int, max_window: int) -> str | None:
    """Why the Triton kernel cannot train on `device`, or None: it must import, compile and, on a tiny
    problem with the run's dim, k and window (so the run's kernel is the one compiled), give the CPU
    reference's answer (`kernel_batched.train_in_flight` with one program)."""
    if not triton_available():
        return "Triton is not installed"
    v, u, ids, sentence, window, threshold, alias = _probe_case(dim, max_window)
    on = [torch.tensor(a, device=device) for a in (v, u, ids, sentence, window, threshold, alias)]
    lr = (0.2, 0.05)
    try:
        from core.engines.kernel_triton import train_slice

        result = train_slice(*on[:5], max_window, *on[5:], k, PROBE_SEED, *lr, 1, 0, ids.size).cpu().numpy()
    except Exception as exc:  # any compiler, driver or launch error: the tensor engine needs none of these
        first_line = next(iter(str(exc).strip().splitlines()), "")
        return f"its kernel failed to compile or run: {type(exc).__name__}: {first_line}"
    loss, scored = train_in_flight(
        v, u, ids, sentence, window, max_window, threshold, alias, k, np.uint64(PROBE_SEED), *lr, 1, 0, ids.size
    )
    agree = [np.allclose(a.cpu().numpy(), b, rtol=1e-4, atol=1e-5) for a, b in ((on[0], v), (on[1], u))]
    if not (all(agree) and np.isclose(result[0], loss, rtol=1e-4) and result[1] == scored):
        return "its first launch disagrees with the CPU reference"
    return None


def _probe_case(dim: int, max_window: int) -> tuple[np.ndarray, ...]:
    """Tables of 16 words, 48 tokens in sentences of 12, random windows, and a noise table ∝ id."""
    rng = np.random.default_rng(PROBE_SEED)
    vocab, n = 16, 48
    v, u = (rng.normal(0.0, 0.3, (vocab, dim)).astype(np.float32) for _ in range(2))
    ids = rng.integers(1, vocab, n).astype(np.int64)
    sentence = np.arange(n, dtype=np.int64) // 12
    window = rng.integers(1, max_window + 1, n).astype(np.int16)
    noise = NoiseTable(np.arange(vocab, dtype=np.float64))
    return v, u, ids, sentence, window, noise_thresholds(noise.prob.numpy()), noise.alias.numpy().astype(np.int64)

"""The GPU check's kernel-level figures: exactness against the CPU reference, atomics, kernel-only speed.

Each function takes the device, so the tests run the small ones on CPU tensors under Triton's
interpreter; on the GPU check they run on CUDA. Kernel calls go through `core.bench.gpu_adapter`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from core.bench.gpu_adapter import Problem, cpu_slice, gpu_slice
from core.data.sampling import EpochSample, NoiseTable

K = 5  # noise words per center, the default
DIM = 100  # PTB's default embedding size: the shapes the first launch compiles for


def random_problem(centers: int, vocab: int, seed: int, same_word: bool = False) -> tuple[EpochSample, NoiseTable]:
    """A small epoch sample (sentences of 2-30 tokens, windows 1..5) over a vocabulary with Zipf-like counts.

    `same_word`: every token is word 3 in one sentence with full windows, so all centers share rows.
    """
    gen = torch.Generator().manual_seed(seed)
    counts = np.concatenate([[0], 1000.0 / np.arange(1, vocab)])
    if same_word:
        ids = torch.full((centers,), 3, dtype=torch.long)
        sentence = torch.zeros(centers, dtype=torch.long)
        window = torch.full((centers,), 5, dtype=torch.int16)
    else:
        ids = torch.randint(1, vocab, (centers,), generator=gen)
        sentence = torch.cumsum((torch.rand(centers, generator=gen) < 1 / 15).long(), 0)
        window = torch.randint(1, 6, (centers,), generator=gen, dtype=torch.int16)
    return EpochSample(ids, sentence, window, 5), NoiseTable(counts)


def tables(vocab: int, seed: int, scale: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(vocab, DIM, generator=gen) - 0.5) * scale, (torch.rand(vocab, DIM, generator=gen) - 0.5) * scale


def one_program(device: torch.device, centers: int = 2000, vocab: int = 200) -> dict[str, float]:
    """One program of the Triton kernel against the CPU reference with one program, on the same problem."""
    sample, noise = random_problem(centers, vocab, seed=1)
    problem = Problem.of(sample, noise, device)
    v, u = tables(vocab, seed=2)
    gv, gu = v.to(device), u.to(device)
    cv, cu = v.numpy().copy(), u.numpy().copy()
    got = gpu_slice(gv, gu, problem, K, 12345, (0.05, 0.01), 1, (0, centers)).cpu().tolist()
    want = cpu_slice(cv, cu, problem, K, 12345, (0.05, 0.01), 1, (0, centers))
    diff = max(float(np.abs(gv.cpu().numpy() - cv).max()), float(np.abs(gu.cpu().numpy() - cu).max()))
    return {"max_diff": diff, "loss": got[0], "loss_cpu": want[0], "scored": got[1], "scored_cpu": want[1]}


def atomic_ratio(device: torch.device, programs: int = 8192) -> dict[str, float]:
    """The kernel's own atomic test: `programs` programs, one center each, all of one word, at lr 1e-6.

    From v constant and u = 0, every center adds nearly the same change to the shared output row
    u[3]; at so small a rate the order hardly matters (the numba emulation, every update a full
    round stale, gives 0.9999), so the observed change over the CPU reference's (one program,
    sequential) is 1.0 when every update lands and falls with those lost.
    """
    sample, noise = random_problem(programs, 32, seed=3, same_word=True)
    problem = Problem.of(sample, noise, device)
    v, u = torch.full((32, DIM), 0.01), torch.zeros(32, DIM)
    gv, gu = v.to(device), u.to(device)
    cv, cu = v.numpy().copy(), u.numpy().copy()
    gpu_slice(gv, gu, problem, K, 7, (1e-6, 1e-6), programs, (0, programs))
    cpu_slice(cv, cu, problem, K, 7, (1e-6, 1e-6), 1, (0, programs))
    observed, expected = gu[3].cpu().double().numpy(), cu[3].astype(np.float64)
    ratio = float(observed @ expected / (expected @ expected))
    return {"programs": programs, "lr": 1e-6, "ratio": ratio}


def kernel_rates(
    problem: Problem, vocab: int, programs: tuple[int, ...], repeats: int = 2
) -> Iterator[dict[str, float]]:
    """Centers per second of the kernel alone over the whole sample, timed with CUDA events, per program count.

    One untimed pass first (launch set-up); then the best of `repeats` timed passes.
    """
    v, u = (t.cuda() for t in tables(vocab, seed=4, scale=0.01))
    n = len(problem)
    for p in programs:
        gpu_slice(v, u, problem, K, 1, (0.025, 0.025), p, (0, n))
        best = float("inf")
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            gpu_slice(v, u, problem, K, 1, (0.025, 0.025), p, (0, n))
            end.record()
            end.synchronize()
            best = min(best, start.elapsed_time(end) / 1000)
        yield {"programs": p, "centers": n, "seconds": best, "centers_per_s": n / best}

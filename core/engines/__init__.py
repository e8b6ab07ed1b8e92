"""The engines: one file per way of training (the book's minibatches, the fast mode's plain SGD on the CPU,
in Triton and in tensor ops), each with its kernel beside it, and `make_engine`, which picks one.

`base` holds what every engine shares: the protocol the trainer drives and the one learning-rate schedule.
An engine may import `core.model`, `core.loss`, `core.data` and `core.distributed`; nothing here imports
the trainer, the job or the run folder.
"""

from __future__ import annotations

from collections.abc import Callable

from core.config import TrainConfig
from core.data.sampling import NoiseTable
from core.engines.base import Engine
from core.engines.book import BookEngine
from core.engines.book_cuda import GraphBookEngine
from core.engines.fast_cpu import FastCpuEngine
from core.engines.fast_torch import FastEngine
from core.engines.fast_triton import gpu_fast_engine
from core.model import SkipGram


def make_engine(
    cfg: TrainConfig,
    model: SkipGram,
    noise: NoiseTable,
    threads: int,
    lockstep: bool,
    notify: Callable[[str], None],
) -> Engine:
    """`lockstep`: data-parallel replicas merge between steps, so no update may be in flight there.
    `notify` hears, in one line, why an engine was passed over (a GPU kernel that fails its check)."""
    on_cpu = model.embed_v.weight.device.type == "cpu"
    if on_cpu:
        from core.engines.kernel_numba import warm_up

        warm_up(cfg.mode)  # load the compiled kernel now rather than inside the first timed step
    on_cuda = model.embed_v.weight.device.type == "cuda"
    if cfg.mode == "book":
        book = GraphBookEngine if on_cuda else BookEngine
        return book(model, cfg.lr, cfg.negatives, noise, cfg.batch_size)
    if on_cpu:
        return FastCpuEngine(model, cfg.sgd_lr, cfg.negatives, noise, threads, lockstep)
    if on_cuda:
        return gpu_fast_engine(model, cfg.sgd_lr, cfg.negatives, noise, cfg.max_window, cfg.batch_size, notify)
    return FastEngine(model, cfg.sgd_lr, cfg.negatives, noise, cfg.batch_size)

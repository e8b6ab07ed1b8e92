"""Triton's vector atomic add, alone: many programs each add 1.0 to every element of one shared row.

The fast mode's kernel writes each row's change with one such add per center; if any were lost,
the row would hold less than the number of programs. Exact in float32 up to 2**24 programs.
Imported only by the GPU check's sections (and the tests, under TRITON_INTERPRET=1).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _add_one(row, DIM: tl.constexpr, BLOCK: tl.constexpr):
    cols = tl.arange(0, BLOCK)
    tl.atomic_add(row + cols, tl.full([BLOCK], 1.0, tl.float32), mask=cols < DIM, sem="relaxed")


def programs_add_one(programs: int, dim: int, device: torch.device) -> torch.Tensor:
    """The row after `programs` programs each added 1.0 to all `dim` of its elements at once."""
    row = torch.zeros(dim, dtype=torch.float32, device=device)
    _add_one[(programs,)](row, DIM=dim, BLOCK=triton.next_power_of_2(dim))
    return row

"""Compiled GPU kernel of the fast mode (Triton): word2vec's per-center SGD, batched per center, many in flight.

The maths (shared with `core.engines.kernel_batched`, whose `train_in_flight` with one program is the exact
reference): for the center at place i of the epoch sample, its valid context words x_1..x_C (offsets
-W..-1, 1..W within its drawn window and its sentence) and its targets t_0 = the center (label 1) and
t_1..t_K = its K noise words (label 0):
  X = v[x], T = u[t] (gathered once, before this center writes anything); S = X T^T;
  G = lr (L - sigmoid(S)); v[x_j] += (G T)_j, u[t_s] += (G^T X)_s: one vectorised atomic add per row.
The three products are `tl.dot`s (exact fp32, "ieee") when the padded tiles are at least 16 wide, else
broadcast sums; `dim` is a compile-time constant, so each row moves in vector loads and adds.

Scheduling, the part that decides quality on a GPU (`kernel_batched.stretch_bounds` is the same arithmetic
on the host): program p of P owns the stretch [p n / P, (p+1) n / P) of the whole epoch sample,
and a step [step_from, step_to) of [0, n) trains the local indices [step_from L / n, step_to L / n) of
every stretch (L its length), so the centers in flight are about n / P apart whatever the step size, and
the k-th center of a stretch gets the rate lr_from + (lr_to - lr_from) k / L: all programs decay together.
Rows that programs share are updated with relaxed atomic adds, so concurrent updates add up.

Contexts are read from the epoch sample and noise words drawn here, from the counter-based generator of
`kernel_batched.noise_word` (splitmix64 of the center's place, slot and attempt), so a step needs no host
work and its noise is the CPU reference's. Triton is imported here and nowhere else, and this module only
on the CUDA path (or in tests under TRITON_INTERPRET=1), so a CPU-only install never needs Triton.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

GOLDEN: tl.constexpr = tl.constexpr(0x9E3779B97F4A7C15)  # as core.engines.kernel_numba
MIX_1: tl.constexpr = tl.constexpr(0xBF58476D1CE4E5B9)
MIX_2: tl.constexpr = tl.constexpr(0x94D049BB133111EB)
MAX_REDRAWS: tl.constexpr = tl.constexpr(64)
DOT_MIN = 16  # tl.dot wants every side of its tiles at least this wide


@triton.jit
def _mix(z):
    """splitmix64's finaliser on uint64 (wrapping)."""
    z = (z ^ (z >> 30)) * MIX_1
    z = (z ^ (z >> 27)) * MIX_2
    return z ^ (z >> 31)


@triton.jit
def noise_words(seed, place, slots, lanes, center, vocab, threshold, alias, K: tl.constexpr):
    """The noise word of each of `slots` (where `lanes`) for the center `center` at sample place `place`.

    Attempt a of slot s uses key = seed + GOLDEN (1 + 2 ((place K + s) MAX_REDRAWS + a)): its column is
    mix(key) % vocab, kept if mix(key + GOLDEN) >> 11 is below the column's threshold, else its alias. The
    first attempt unequal to the center is taken; after MAX_REDRAWS equal ones, the next word id.
    """
    base = ((place * K + slots) * MAX_REDRAWS).to(tl.uint64, bitcast=True)
    columns = vocab.to(tl.uint64)
    word = tl.zeros_like(slots) + center
    pending = lanes
    attempt = 0
    while (attempt < MAX_REDRAWS) & (tl.max(pending.to(tl.int32), axis=0) > 0):
        key = seed + GOLDEN * (1 + 2 * (base + attempt))
        column = (_mix(key) % columns).to(tl.int64, bitcast=True)
        kept = (_mix(key + GOLDEN) >> 11).to(tl.int64, bitcast=True)
        limit = tl.load(threshold + column, mask=pending, other=0)
        drawn = tl.where(kept < limit, column, tl.load(alias + column, mask=pending, other=0))
        word = tl.where(pending, drawn, word)
        pending = pending & (drawn == center)
        attempt += 1
    return tl.where(lanes & (word == center), word % (vocab - 1) + 1, word)


@triton.jit
def _products(x, t, DOT: tl.constexpr):
    """S = X T^T, as a dot where the tiles allow."""
    if DOT:
        return tl.dot(x, tl.trans(t), input_precision="ieee")
    return tl.sum(x[:, None, :] * t[None, :, :], axis=2)


@triton.jit
def _gradients(g, x, t, DOT: tl.constexpr):
    """(G T, G^T X): the changes of the context rows and of the target rows."""
    if DOT:
        return tl.dot(g, t, input_precision="ieee"), tl.dot(tl.trans(g), x, input_precision="ieee")
    return tl.sum(g[:, :, None] * t[None, :, :], axis=1), tl.sum(g[:, :, None] * x[:, None, :], axis=0)


@triton.jit(do_not_specialize=["n", "vocab", "step_from", "step_to"])
def _train_slice(
    v,
    u,
    ids,
    sentence,
    window,
    threshold,
    alias,
    seed_at,
    result,
    n,
    vocab,
    step_from,
    step_to,
    lr_from,
    lr_to,
    DIM: tl.constexpr,
    W: tl.constexpr,
    K: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BLOCK_D: tl.constexpr,
    DOT: tl.constexpr,
):
    pid = tl.program_id(0).to(tl.int64)
    programs = tl.num_programs(0).to(tl.int64)
    total = n.to(tl.int64)
    first = pid * total // programs
    length = (pid + 1) * total // programs - first
    local_from = step_from.to(tl.int64) * length // total
    local_to = step_to.to(tl.int64) * length // total
    seed = tl.load(seed_at).to(tl.uint64, bitcast=True)

    cols = tl.arange(0, BLOCK_D)
    col_ok = cols < DIM
    lane = tl.arange(0, BLOCK_C).to(tl.int64)
    offset = tl.where(lane < W, lane - W, lane - W + 1)
    rows = tl.arange(0, BLOCK_T).to(tl.int64)
    row_ok = rows < K + 1
    label = (rows == 0).to(tl.float32)
    loss_sum = 0.0
    scored = 0.0
    for k in range(local_from, local_to):
        place = first + k
        lr = lr_from + (lr_to - lr_from) * ((place - first).to(tl.float32) / length.to(tl.float32))
        center = tl.load(ids + place).to(tl.int64)
        where = place + offset
        inside = (lane < 2 * W) & (where >= 0) & (where < total)
        own = tl.load(sentence + place)
        near = tl.abs(offset) <= tl.load(window + place).to(tl.int64)
        valid = inside & near & (tl.load(sentence + where, mask=inside, other=0) == own)
        context = tl.load(ids + where, mask=valid, other=0).to(tl.int64)
        noise = noise_words(seed, place, rows - 1, (rows >= 1) & row_ok, center, vocab, threshold, alias, K)
        target = tl.where(rows == 0, center, noise)

        x_at = v + context[:, None] * DIM + cols[None, :]
        t_at = u + target[:, None] * DIM + cols[None, :]
        x_ok = valid[:, None] & col_ok[None, :]
        t_ok = row_ok[:, None] & col_ok[None, :]
        x = tl.load(x_at, mask=x_ok, other=0.0, cache_modifier=".cg")
        t = tl.load(t_at, mask=t_ok, other=0.0, cache_modifier=".cg")
        s = _products(x, t, DOT)
        slot_ok = valid[:, None] & row_ok[None, :]
        z = tl.where(rows[None, :] == 0, -s, s)  # each slot's loss is softplus(z), computed stably
        slot_loss = tl.maximum(z, 0.0) + tl.log(1.0 + tl.exp(-tl.abs(z)))
        count = tl.sum(valid.to(tl.float32), axis=0)
        if count > 0:
            g = tl.where(slot_ok, lr * (label[None, :] - tl.sigmoid(s)), 0.0)
            dx, dt = _gradients(g, x, t, DOT)
            tl.atomic_add(x_at, dx, mask=x_ok, sem="relaxed")
            tl.atomic_add(t_at, dt, mask=t_ok, sem="relaxed")
            loss_sum += tl.sum(tl.sum(tl.where(slot_ok, slot_loss, 0.0), axis=1), axis=0) / (count * (K + 1))
            scored += 1.0
        tl.debug_barrier()  # this center's adds are visible to every thread before the next center's reads
    tl.atomic_add(result, loss_sum, sem="relaxed")
    tl.atomic_add(result + 1, scored, sem="relaxed")


def train_slice(
    v: torch.Tensor,
    u: torch.Tensor,
    ids: torch.Tensor,
    sentence: torch.Tensor,
    window: torch.Tensor,
    max_window: int,
    threshold: torch.Tensor,
    alias: torch.Tensor,
    k: int,
    seed: int | torch.Tensor,
    lr_from: float,
    lr_to: float,
    programs: int,
    step_from: int,
    step_to: int,
) -> torch.Tensor:
    """Train the step [step_from, step_to) of the epoch sample (ids, sentence, window) with `programs` in flight.

    Updates `v` and `u` in place; returns a (2,) float32 tensor on their device, [sum of the scored centers'
    mean slot losses, centers scored] (a center without context is neither updated nor scored), without
    waiting for the device. `threshold`, `alias`: the noise table (`kernel_batched.noise_thresholds`);
    `seed`: the sample's noise seed, an int or a one-element int64 tensor on the device (drawn there, it
    costs no host sync); lr_from, lr_to: the rates at the sample's first center and past its last
    (`core.engines.base.learning_rates`).
    """
    result = torch.zeros(2, dtype=torch.float32, device=v.device)
    n, dim = ids.numel(), v.shape[1]
    if n == 0 or step_to <= step_from:
        return result
    if not isinstance(seed, torch.Tensor):
        seed = torch.tensor([(seed + 2**63) % 2**64 - 2**63], dtype=torch.int64, device=v.device)
    dot = dim >= DOT_MIN
    block_c = max(triton.next_power_of_2(2 * max_window), DOT_MIN if dot else 1)
    block_t = max(triton.next_power_of_2(k + 1), DOT_MIN if dot else 1)
    block_d = triton.next_power_of_2(dim)
    _train_slice[(max(1, programs),)](
        v, u, ids, sentence, window, threshold, alias, seed, result,
        n, threshold.numel(), step_from, step_to, float(lr_from), float(lr_to),
        DIM=dim, W=max_window, K=k, BLOCK_C=block_c, BLOCK_T=block_t, BLOCK_D=block_d, DOT=dot,
        num_warps=1 if block_c * block_d <= 1024 else 4,
    )  # fmt: skip
    return result

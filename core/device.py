"""Which device trains: `auto` picks CUDA, then MPS, then the CPU; a missing device is a clear error."""

from __future__ import annotations

import os
from pathlib import Path

import torch


class DeviceError(RuntimeError):
    """The requested device is not available on this machine."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("CUDA was requested but no CUDA GPU is visible to PyTorch; use device 'auto' or 'cpu'")
    if name == "mps" and not _mps_available():
        raise DeviceError("MPS was requested but this machine has no Apple GPU; use device 'auto' or 'cpu'")
    if name not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unknown device {name!r}; choose auto, cpu, cuda or mps")
    return torch.device(name)


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def available_devices() -> list[tuple[str, str]]:
    """(config value, human label) for each device this machine has, `auto` first."""
    found = [("auto", "auto (best available)")]
    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        found.append(("cuda", f"cuda ({names})"))
    if _mps_available():
        found.append(("mps", "mps (Apple GPU)"))
    found.append(("cpu", f"cpu ({os.cpu_count()} cores)"))
    return found


def set_threads(threads: int) -> int:
    """Use `threads` CPU threads in torch (0 = this process's share of the cores); returns the count.

    torchrun's processes on one machine split the cores between them (LOCAL_WORLD_SIZE).
    """
    share = usable_cores() // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    count = threads or max(1, share)
    torch.set_num_threads(count)
    return count


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup CPU quota (containers).

    `os.cpu_count()` counts the machine's cores, which a container or `taskset` may not grant.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text(encoding="ascii").split()[:2]
    except (OSError, ValueError):
        return cores
    return cores if quota == "max" else max(1, min(cores, int(quota) // int(period)))


def available_memory(device: torch.device) -> int | None:
    """Bytes `device` can still give this process, or None when it cannot be told (MPS, an unknown system).

    On the host: the kernel's estimate of what can be allocated without swapping (MemAvailable), capped by
    what a cgroup memory limit leaves (containers); elsewhere `os.sysconf`'s available pages.
    """
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    free = [n for n in (_mem_available(), _cgroup_room()) if n is not None]
    return min(free) if free else None


def _mem_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_room() -> int | None:
    """What a cgroup memory limit (v2, then v1) leaves above what the group uses, or None without one."""
    v1 = ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")
    for limit, usage in (("memory.max", "memory.current"), v1):
        try:
            cap = Path("/sys/fs/cgroup", limit).read_text(encoding="ascii").strip()
            used = int(Path("/sys/fs/cgroup", usage).read_text(encoding="ascii"))
        except (OSError, ValueError):
            continue
        if cap.isdigit() and int(cap) < 1 << 60:  # v1 writes a huge number for no limit
            return max(0, int(cap) - used)
    return None


def gpu_summary() -> list[str]:
    """One line per CUDA GPU: its name and the memory in use on it by every process (for the Train page).

    Device-wide figures, since training runs in its own process; the first call opens a CUDA
    context in the calling process.
    """
    lines = []
    for index in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        free, total = torch.cuda.mem_get_info(index)
        used = (total - free) / 2**30
        lines.append(f"{torch.cuda.get_device_name(index)}: {used:.1f} of {total / 2**30:.1f} GiB in use")
    return lines

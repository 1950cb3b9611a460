"""What a rank's device did, for ``summary.json``: its name, its peak memory and its speed.

* ``device_name``: ``torch.cuda.get_device_name`` on a GPU (for example ``NVIDIA H200``),
  ``cpu`` on the CPU;
* ``peak_memory_mb``: on a GPU the most memory torch's caching allocator held for tensors
  (``torch.cuda.max_memory_allocated``, in MiB) since the process started; on the CPU the
  process's peak resident set (``VmHWM`` of ``/proc/self/status``, in MiB; ``None`` where the
  system does not report it);
* the rank's own seconds inside the trainer's steps, from which ``summary.json`` gives each
  rank's seconds per update (its throughput: a slow rank holds every collective back).
"""

from __future__ import annotations

import torch

STATUS_FILE = "/proc/self/status"
MIB = 1024.0 * 1024.0


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type


def proc_kib(path, field: str) -> int | None:
    """The number of kB a Linux ``/proc`` file gives for ``field`` (``VmHWM`` of
    ``/proc/self/status``, ``MemAvailable`` of ``/proc/meminfo``), else ``None``."""
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def resident_peak_mb() -> float | None:
    """This process's peak resident set in MiB (Linux's ``VmHWM``), else ``None``."""
    kib = proc_kib(STATUS_FILE, "VmHWM")
    return None if kib is None else kib / 1024.0


def peak_memory_mb(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / MIB
    return resident_peak_mb()


def usage(device: torch.device, step_seconds: float) -> dict:
    """This rank's entry (no collective)."""
    return {
        "device_name": device_name(device),
        "peak_memory_mb": peak_memory_mb(device),
        "step_seconds": step_seconds,
    }

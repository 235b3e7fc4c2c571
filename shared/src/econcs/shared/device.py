"""Devices, dtypes and explicit random generators.

Library code never seeds global state: every random draw comes from a ``torch.Generator`` or a
``numpy.random.Generator`` made here from an explicit seed and passed down.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from econcs.shared.validation import check_int

__all__ = ["cpu_threads", "make_generator", "make_rng", "resolve_device", "resolve_dtype"]

_DTYPES = {
    "float32": torch.float32,
    "float": torch.float32,
    "float64": torch.float64,
    "double": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
}


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto" | "cpu" | "cuda" | "cuda:N" | "mps"`` (or a ``torch.device``) into a device.

    ``"auto"`` (or ``None``) picks CUDA when it is available, else the CPU. Asking for CUDA or MPS on a
    machine without it raises ``ValueError`` rather than failing later inside a kernel.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device: expected 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device, "
            f"got {device!r} ({type(device).__name__})."
        )
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(
            f"device: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}."
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device: 'cuda' was requested but CUDA is not available; use 'cpu'.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device: {device!r} requested but only {torch.cuda.device_count()} CUDA "
                "device(s) exist."
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("device: 'mps' was requested but MPS is not available; use 'cpu'.")
    elif dev.type != "cpu":
        raise ValueError(
            f"device: expected 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {device!r}."
        )
    return dev


def resolve_dtype(dtype: str | torch.dtype | None = None) -> torch.dtype:
    """Turn ``"float32" | "float64" | ...`` or a ``torch.dtype`` into a floating ``torch.dtype``.

    ``None`` gives ``torch.float32``, the library default (tests comparing to theory use float64).
    """
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if not dtype.is_floating_point:
            raise ValueError(f"dtype: expected a floating dtype, got {dtype}.")
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(
        f"dtype: expected one of {', '.join(_DTYPES)} or a torch.dtype, got {dtype!r}."
    )


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (a non-negative integer)."""
    seed = check_int(seed, "seed", low=0)
    gen = torch.Generator(device=resolve_device(device))
    gen.manual_seed(seed)
    return gen


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a seed, or the generator itself when one is given."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(check_int(seed, "seed", low=0))


@contextlib.contextmanager
def cpu_threads(n: int | None, device: str | torch.device = "cpu") -> Iterator[None]:
    """Run the block with ``n`` PyTorch intra-op threads when ``device`` is the CPU.

    Small networks (a few hundred units) gain nothing from intra-op parallelism and on a busy machine
    lose several-fold to thread oversubscription. ``None`` (or a non-CPU device) changes nothing; the
    previous thread count is restored on exit.
    """
    if n is None or torch.device(device).type != "cpu":
        yield
        return
    n = check_int(n, "num_threads", low=1)
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)

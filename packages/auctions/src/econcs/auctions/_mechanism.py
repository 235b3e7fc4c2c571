"""The common interface of every mechanism in this package, and its persistence.

A :class:`Mechanism` is a ``torch.nn.Module`` mapping a batch of reported value profiles
``(B, n_bidders, n_items)`` to an allocation ``(B, n_bidders, n_items)`` (item probabilities) and
payments ``(B, n_bidders)``. Learned mechanisms add ``fit(params, /, **overrides) -> self`` and a
``history_`` (a tuple of dicts, each with a ``"step"``).
``save`` writes the parameters as safetensors with the setting and hyper-parameters as JSON in the
file's metadata; ``load`` rebuilds the mechanism and refuses a different setting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from econcs.auctions._setting import AuctionSetting
from econcs.auctions._training import value_scale
from econcs.shared import atomic_write, check_type, resolve_device, resolve_dtype

__all__ = ["Mechanism"]

_META_KEY = "econcs.auctions"
_REGISTRY: dict[str, type[Mechanism]] = {}

#: temperature of the straight-through search gradient, relative to the value scale
_SEARCH_TEMPERATURE = 0.01


class Mechanism(nn.Module):
    """Base class: ``mech(values) -> (allocation (B, n, m), payment (B, n))``.

    Subclasses implement :meth:`outcome`, which may take a ``temperature`` (the softmax relaxation
    used in training; ``None`` is the exact mechanism) and is differentiable in the reports where
    the mechanism is. ``__call__`` validates its input and evaluates the exact mechanism.

    Parameters
    ----------
    setting
        the :class:`AuctionSetting`.
    device
        ``"cpu"``, ``"cuda"``, ... (``"auto"`` picks CUDA when available).
    dtype
        ``"float32"`` (default) or ``"float64"``.
    """

    #: whether the exact mechanism is incentive compatible by construction (menus, VCG, AMA)
    exactly_ic: ClassVar[bool] = False
    #: whether the exact outcome is an argmax over options (menus, AMA, GemNet): the misreport
    #: search then differentiates a straight-through estimator (see :meth:`search_outcome`)
    straight_through: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def __init__(self, setting: AuctionSetting, *, device: str | torch.device = "cpu",
                 dtype: str | torch.dtype | None = None) -> None:
        super().__init__()
        check_type(setting, "setting", AuctionSetting)
        self.setting = setting
        self.device_ = resolve_device(device)
        self.dtype_ = resolve_dtype(dtype)
        self.history_: tuple[dict[str, Any], ...] = ()
        self.register_buffer("_low", setting.low.to(self.device_, self.dtype_), persistent=False)
        self.register_buffer("_high", setting.search_high.to(self.device_, self.dtype_),
                             persistent=False)

    # -- the mechanism ---------------------------------------------------------------------------
    def outcome(self, reports: torch.Tensor, temperature: float | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(allocation (B, n, m), payment (B, n))`` for ``reports`` ``(B, n, m)``, unvalidated."""
        raise NotImplementedError

    def search_outcome(self, reports: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mechanism as seen by the misreport search: the exact outcome, with a gradient that
        makes ascent possible. For argmax mechanisms (:attr:`straight_through`) a straight-through
        estimator: the exact value with the gradient of the softmax choice at temperature 0.01
        (relative to the value scale); smooth ones use :meth:`outcome`. A piecewise-constant
        outcome (posted prices) has no gradient, so only the restarts search."""
        if not self.straight_through:
            return self.outcome(reports)
        hard_a, hard_p = self.outcome(reports)
        soft_a, soft_p = self.outcome(reports, _SEARCH_TEMPERATURE * value_scale(self.setting))
        return hard_a + soft_a - soft_a.detach(), hard_p + soft_p - soft_p.detach()

    def forward(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        values = self.setting.check_values(values)
        values = values.to(self.device_, self.dtype_)
        with torch.no_grad():
            return self.outcome(values)

    def revenue(self, values: torch.Tensor) -> float:
        """Mean total payment on ``values`` ``(B, n, m)`` under the exact mechanism."""
        _, pay = self(values)
        return float(pay.sum(-1).mean())

    # -- persistence -----------------------------------------------------------------------------
    #: constructor arguments added after files were first saved, with the value such files
    #: were trained with (:meth:`load` passes them when a file lacks them)
    HPARAMS_BEFORE: ClassVar[dict[str, Any]] = {}

    def hparams(self) -> dict[str, Any]:
        """The constructor's keyword arguments besides ``setting``/``device``/``dtype`` (JSON)."""
        return {}

    def save(self, path: str | Path) -> None:
        """Write the parameters to ``path`` (safetensors) with the setting and hyper-parameters as
        JSON metadata, atomically (a temporary file replaced into place)."""

        tensors = {k: v.detach().to("cpu").contiguous() for k, v in self.state_dict().items()}
        meta = {"class": type(self).__name__, "setting": self.setting.to_dict(),
                "hparams": self.hparams(), "dtype": str(self.dtype_).replace("torch.", "")}
        save_with_meta(path, tensors, _META_KEY, meta)

    @classmethod
    def load(cls, path: str | Path, *, setting: AuctionSetting | None = None,
             device: str | torch.device = "cpu") -> Mechanism:
        """Rebuild a mechanism saved by :meth:`save`.

        ``setting``, when given, must equal the saved setting (else ``ValueError``): a mechanism
        trained for one setting is meaningless in another. ``cls`` must be the saved class or a base.
        """
        from safetensors.torch import load_file

        path = Path(path)
        meta = read_meta(path, _META_KEY, "Mechanism.save")
        saved_cls = cls if cls.__name__ == meta["class"] else _REGISTRY.get(meta["class"])
        # compare by name: a module imported twice (e.g. by test runners) gives twin classes
        if saved_cls is None or cls.__name__ not in {c.__name__ for c in saved_cls.__mro__}:
            raise ValueError(f"path: {str(path)!r} holds a {meta['class']}, not a {cls.__name__}.")
        saved_setting = AuctionSetting(**meta["setting"])
        if setting is not None:
            check_type(setting, "setting", AuctionSetting)
            if setting.key() != saved_setting.key():
                raise ValueError(
                    f"setting: the file holds a {meta['class']} trained for {saved_setting!r}, "
                    f"which cannot be used for {setting!r}."
                )
        # hyper-parameters added since a file was written take the value it was trained with
        hparams = {**saved_cls.HPARAMS_BEFORE, **meta["hparams"]}
        mech = saved_cls(saved_setting, **hparams, device=device, dtype=meta["dtype"])
        mech.load_state_dict(load_file(str(path), device=str(mech.device_)))
        mech.eval()
        return mech

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={v!r}" for k, v in self.hparams().items())
        return f"{type(self).__name__}({self.setting!r}{', ' + extra if extra else ''})"


def unit_grid(points: int, dims: int, *, device: torch.device, dtype: torch.dtype
              ) -> torch.Tensor:
    """``(points ** dims, dims)``: every point of the evenly spaced grid on ``[0, 1]^dims``, the
    last dimension varying fastest."""
    steps = torch.linspace(0, 1, points, device=device, dtype=dtype)
    return torch.stack(torch.meshgrid(*([steps] * dims), indexing="ij"), -1).reshape(-1, dims)


def save_with_meta(path: str | Path, tensors: dict[str, torch.Tensor], key: str,
                   meta: dict[str, Any]) -> None:
    """Write ``tensors`` to a safetensors file with ``meta`` as JSON under ``key``, atomically
    (a temporary file replaced into place: never a half-written file)."""
    from safetensors.torch import save_file

    with atomic_write(path) as tmp:
        save_file(tensors, str(tmp), metadata={key: json.dumps(meta)})


def read_meta(path: str | Path, key: str, writer: str) -> dict[str, Any]:
    """The JSON metadata ``save_with_meta`` stored under ``key``; ``ValueError`` naming ``path``
    when there is no file or it was not written by ``writer``."""
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise ValueError(f"path: no file at {str(path)!r}.")
    with safe_open(str(path), framework="pt") as fh:
        raw = (fh.metadata() or {}).get(key)
    if raw is None:
        raise ValueError(f"path: {str(path)!r} was not written by {writer}.")
    return json.loads(raw)

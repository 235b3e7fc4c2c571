"""Stochastic gradient ascent on one scalar objective, with exact resume: the loop menu trainers share.

A menu network (amm's :func:`~econcs.amm.train_menu` and :func:`~econcs.amm.train_param_menu`, say)
is trained the same way: Adam, its learning rate decayed exponentially from ``lr`` to ``lr_final``
over ``max_iter`` steps, a fresh batch drawn from one generator each step, the objective ascended,
an optional projection after the step, a stop with :class:`~econcs.shared.DivergenceError` if the
objective is not finite, a history row every ``log_every`` steps and the house callback
(:mod:`econcs.shared.callbacks`) after every step. :func:`gradient_ascent` is that loop; the caller
keeps what differs (the model, the objective and the projection).

Resume is exact: ``state_fn()`` holds the model, the optimiser, the scheduler, the generator and the
history (plus the caller's ``extra`` values), and a run given ``resume=(step, state)`` takes the same
iterates as one that never stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from econcs.shared.callbacks import Callback
from econcs.shared.errors import DivergenceError
from econcs.shared.validation import check_float, check_int

__all__ = ["gradient_ascent"]


def gradient_ascent(
    model: nn.Module,
    objective: Callable[[int], torch.Tensor],
    *,
    lr: float,
    lr_final: float,
    max_iter: int,
    generator: torch.Generator,
    log_every: int = 100,
    name: str = "train_profit",
    project: Callable[[], None] | None = None,
    callback: Callback | None = None,
    resume: tuple[int, Mapping[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
    hint: str = "lower lr",
) -> list[dict[str, Any]]:
    """Ascend ``objective(step)`` with Adam at an exponentially decaying learning rate.

    Parameters
    ----------
    model
        the trained module (all its parameters are optimised).
    objective
        ``objective(step) -> ()`` tensor to maximise at 1-based ``step``; it draws its batch from
        ``generator``, so that the generator's state, saved in the checkpoint, fixes the rest of the run.
    lr, lr_final
        Adam's learning rate at the first and after the last step (``lr * (lr_final / lr) ** (t /
        max_iter)`` after ``t`` steps).
    max_iter
        number of steps (>= 0).
    generator
        the objective's random source; checkpointed.
    log_every
        a history row ``{"step": t, name: value}`` every ``log_every`` steps and at the last one.
    name
        the metric's name in the history and the callback.
    project
        called (under ``torch.no_grad``) after each optimiser step, e.g. to clip the parameters.
    callback
        ``callback(step, {name: value}, state_fn)`` after each step.
    resume
        ``(step, state)`` from a ``state_fn()``: continue exactly where it stopped.
    extra
        values stored in the state beside the loop's own (read them back from ``resume[1]``).
    hint
        the fix the divergence error suggests.

    Returns
    -------
    list of dict
        the history rows.

    Examples
    --------
    >>> w = nn.Linear(1, 1, bias=False)
    >>> gen = torch.Generator().manual_seed(0)
    >>> rows = gradient_ascent(w, lambda t: -(w.weight - 2.0).square().sum(), lr=0.1,
    ...                        lr_final=0.01, max_iter=300, generator=gen)
    >>> round(w.weight.item(), 3), rows[-1]["step"]
    (2.0, 300)
    """
    max_iter = check_int(max_iter, "max_iter", low=0)
    log_every = check_int(log_every, "log_every", low=1)
    lr = check_float(lr, "lr", low=0, low_inclusive=False)
    lr_final = check_float(lr_final, "lr_final", low=0, low_inclusive=False)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=(lr_final / lr) ** (1.0 / max(max_iter, 1)))
    history: list[dict[str, Any]] = []
    start = 0
    if resume is not None:
        start, state = resume
        start = check_int(start, "resume step", low=0)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        generator.set_state(state["generator"])
        history = [dict(h) for h in state["history"]]
    kept = dict(extra or {})

    def state_fn() -> dict[str, Any]:
        return {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "generator": generator.get_state(), "history": [dict(h) for h in history], **kept}

    for step in range(start + 1, max_iter + 1):
        value = objective(step)
        if not bool(torch.isfinite(value.detach())):
            raise DivergenceError(f"{name}: got {float(value.detach())} at step {step}; {hint}.")
        opt.zero_grad()
        (-value).backward()
        opt.step()
        if project is not None:
            with torch.no_grad():
                project()
        sched.step()
        metrics = {name: float(value.detach())}
        if step % log_every == 0 or step == max_iter:
            history.append({"step": step, **metrics})
        if callback is not None:
            callback(step, metrics, state_fn)
    return history

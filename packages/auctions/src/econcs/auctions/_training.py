"""Training helpers shared by the mechanisms of this package (RochetNet, the affine maximizers,
GemNet, RegretNet): the value scale temperatures are measured in, the seeded generator every ``fit``
starts from, and :func:`fit_revenue`, the softmax-relaxed revenue training of argmax mechanisms
(Dütting et al. 2019, Sec. 3 and 6).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from econcs.shared import Callback, Params, check_int, history_tuple, make_generator, param

if TYPE_CHECKING:
    from econcs.auctions._mechanism import Mechanism
    from econcs.auctions._setting import AuctionSetting

__all__ = ["RevenueParams", "fit_revenue", "start_generator", "value_scale"]


def value_scale(setting: AuctionSetting) -> float:
    """A typical value: the mean width of the (search) support, used to scale temperatures."""
    return float((setting.search_high - setting.low).mean())


def start_generator(seed: int, generator: torch.Generator | None) -> torch.Generator:
    """The CPU generator a ``fit`` draws its initialisation from: ``generator`` when given, else
    one seeded with ``seed``."""
    return make_generator(check_int(seed, "seed", low=0)) if generator is None else generator


@dataclasses.dataclass(frozen=True)
class RevenueParams(Params):
    """Parameters of :func:`fit_revenue`, with RochetNet's defaults; each argmax mechanism's own
    parameters subclass it (:class:`~econcs.auctions.RochetNetParams`,
    :class:`~econcs.auctions.AffineMaximizerParams`, :class:`~econcs.auctions.GemNetParams`)."""

    max_iter: int = param(1500, "Adam steps", low=1)
    batch_size: int = param(1024, "fresh value profiles per step", low=1)
    lr: float = param(0.02, "Adam learning rate, decayed by cosine to lr / 20", low=0.0,
                      low_inclusive=False)
    temperature: float = param(0.01, "initial softmax temperature (relative to the value scale)",
                               low=0.0, low_inclusive=False)
    temperature_final: float | None = param(
        None, "final softmax temperature, annealed geometrically (default: temperature / 10)",
        low=0.0, low_inclusive=False)

    @property
    def final_temperature(self) -> float:
        """``temperature_final``, or ``temperature / 10`` when it is ``None``."""
        return self.temperature / 10 if self.temperature_final is None else self.temperature_final


def fit_revenue(
    mech: Mechanism,
    parameters: list[torch.nn.Parameter] | list[dict[str, Any]],
    params: RevenueParams,
    *,
    generator: torch.Generator,
    callback: Callback | None = None,
    resume: tuple[int, dict[str, Any]] | None = None,
    penalty: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor] | None = None,
    final_steps: int = 0,
    final_lr: float | None = None,
) -> None:
    """Train an argmax mechanism (menus, affine maximizers) by Adam on its softmax relaxation.

    Maximises the mean revenue of ``mech.outcome(values, tau)`` on fresh samples; ``tau`` is
    annealed geometrically from ``params.temperature`` to ``params.final_temperature`` (both
    relative to :func:`value_scale`), the learning rate decays by cosine to ``lr / 20``. Records
    ``mech.history_`` (``{"step", "revenue", "temperature"}`` every 100 steps and at the last);
    ``mech.reset_parameters(generator)`` is called unless resuming. ``penalty(values, allocation,
    step)``, when given, is added to the loss (GemNet's incompatibility penalty). ``parameters``
    may be Adam parameter groups; a group's ``"lr_scale"`` multiplies its learning rate.

    ``final_steps``: the last ``final_steps`` of the ``max_iter`` steps are a final phase at the
    final temperature, with a fresh Adam at ``final_lr`` (default ``lr``) decayed again by cosine
    to a twentieth: the annealing runs over the steps before it. What the prices learned while the
    temperature was high (GemNet's one-item thresholds, set ~``tau log K`` above the soft ones) the
    decayed learning rate no longer moves; the restart lets the revenue gradient at the final
    temperature bring them down.
    """
    max_iter, lr = params.max_iter, params.lr
    temperature, temperature_final = params.temperature, params.final_temperature
    if not 0 <= final_steps < max_iter:
        raise ValueError(f"final_steps: expected 0 <= final_steps < max_iter={max_iter}, got "
                         f"{final_steps}.")
    main = max_iter - final_steps  # annealing steps; then the final phase
    lr_final = lr if final_lr is None else final_lr
    scale = value_scale(mech.setting)
    start = 0 if resume is None else resume[0]
    opt = torch.optim.Adam(parameters, lr=lr if start < main else lr_final)
    start = 0
    if resume is None:
        mech.reset_parameters(generator)
        history: list[dict[str, Any]] = []
        data_gen = make_generator(int(torch.randint(0, 2**62, (1,), generator=generator)),
                                  mech.device_)
    else:
        start, state = resume
        mech.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        data_gen = make_generator(0, mech.device_)
        data_gen.set_state(state["data_rng"].cpu())
        history = list(state.get("history", []))

    def state_fn() -> dict[str, Any]:
        return {"model": mech.state_dict(), "optimizer": opt.state_dict(),
                "data_rng": data_gen.get_state(), "history": list(history)}

    mech.train()
    for step in range(start + 1, max_iter + 1):
        if step == main + 1 and final_steps:  # the final phase: a fresh Adam
            opt = torch.optim.Adam(parameters, lr=lr_final)
        frac = min((step - 1) / max(main - 1, 1), 1.0)
        tau = scale * temperature * (temperature_final / temperature) ** frac
        values = mech.setting.sample(params.batch_size, generator=data_gen, device=mech.device_,
                                     dtype=mech.dtype_)
        if step <= main:
            base, cos = lr, 0.5 * (1 + math.cos(math.pi * (step - 1) / main))
        else:
            base, cos = lr_final, 0.5 * (1 + math.cos(math.pi * (step - main - 1) / final_steps))
        for group in opt.param_groups:  # cosine decay to lr / 20 (times a group's lr_scale)
            group["lr"] = base * group.get("lr_scale", 1.0) * (0.05 + 0.95 * cos)
        alloc, pay = mech.outcome(values, tau)
        revenue = pay.sum(-1).mean()
        loss = -revenue if penalty is None else penalty(values, alloc, step) - revenue
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == max_iter:
            history.append({"step": step, "revenue": float(revenue.detach()),
                            "temperature": tau})
        if callback is not None:
            callback(step, {"revenue": float(revenue.detach())}, state_fn)
    mech.history_ = history_tuple(history)
    mech.eval()

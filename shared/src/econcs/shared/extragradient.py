"""Extra-gradient for min-max problems and multi-player games (Korpelevich 1976; Gidel et al. 2019).

Simultaneous gradient descent-ascent cycles or diverges on bilinear games such as ``min_x max_y x*y``.
Extra-gradient first takes a look-ahead step ``w' = w - lr * F(w)`` and then updates from the
*original* point with the gradient at the look-ahead, ``w <- w - lr * F(w')``; on bilinear games this
contracts to the equilibrium. Each player minimises its own loss: the vector field ``F`` stacks
every player's gradient of its own loss with respect to its own parameters, so for a zero-sum game
the maximising player supplies the negated objective.

``ExtraGradient`` is a ``torch.optim.Optimizer``: ``opt.step(closure)`` where ``closure`` zeroes
the gradients, recomputes every player's loss and calls ``backward`` so that ``p.grad`` holds each
player's gradient (see ``game_closure``). It runs the closure twice per step. With
``optimistic=True`` it is instead the single-call optimistic gradient (Popov 1980) variant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from econcs.shared.validation import check_bool, check_float

__all__ = ["ExtraGradient", "game_closure"]


class ExtraGradient(torch.optim.Optimizer):
    """Extra-gradient (or optimistic gradient) with plain SGD steps.

    Parameters
    ----------
    params
        parameters (or parameter groups) of all players.
    lr
        step size (> 0).
    optimistic
        use the single-call optimistic variant ``w <- w - lr * (2 g_t - g_{t-1})``.
    """

    def __init__(self, params, lr: float = 0.1, optimistic: bool = False) -> None:
        lr = check_float(lr, "lr", low=0.0, low_inclusive=False)
        check_bool(optimistic, "optimistic")
        super().__init__(params, {"lr": lr, "optimistic": optimistic})

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:  # type: ignore[override]
        if closure is None:
            raise ValueError(
                "closure: ExtraGradient needs a closure that recomputes the gradients."
            )
        with torch.enable_grad():
            loss = closure()
        params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
        if not params:
            return loss
        if self.param_groups[0]["optimistic"]:
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    prev = state.get("prev_grad", torch.zeros_like(p))
                    p.add_(2 * p.grad - prev, alpha=-group["lr"])
                    state["prev_grad"] = p.grad.clone()
            return loss
        originals = {}
        for group in self.param_groups:  # look-ahead step
            for p in group["params"]:
                if p.grad is None:
                    continue
                originals[p] = p.detach().clone()
                p.add_(p.grad, alpha=-group["lr"])
        with torch.enable_grad():
            loss = closure()
        for group in self.param_groups:  # update from the original point
            for p in group["params"]:
                if p in originals:
                    grad = p.grad if p.grad is not None else torch.zeros_like(p)
                    p.copy_(originals[p] - group["lr"] * grad)
        return loss


def game_closure(
    players: Sequence[Sequence[torch.Tensor]],
    losses: Callable[[], Sequence[torch.Tensor]],
) -> Callable[[], torch.Tensor]:
    """A closure for ``ExtraGradient`` in an ``n``-player game.

    ``players[i]`` is player ``i``'s parameter list and ``losses()`` returns the ``n`` losses, each
    player minimising its own. The closure sets every ``p.grad`` to the gradient of its owner's loss
    with respect to ``p`` (not of the sum of losses) and returns the summed loss.
    """
    players = [list(ps) for ps in players]

    def closure() -> torch.Tensor:
        values = list(losses())
        if len(values) != len(players):
            raise ValueError(f"losses(): expected {len(players)} losses, got {len(values)}.")
        for ps, loss in zip(players, values):
            grads = torch.autograd.grad(loss, ps, retain_graph=True, allow_unused=True)
            for p, g in zip(ps, grads):
                p.grad = torch.zeros_like(p) if g is None else g.detach()
        return torch.stack([v.detach() for v in values]).sum()

    return closure

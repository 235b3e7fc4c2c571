"""Adversarial weight perturbation (AWP): for each point, search for a good model that flips it.

Hsu and Calmon (2022), "Rashomon Capacity: A Metric for Predictive Multiplicity in Classification"
(NeurIPS), Sec. 5, explore the Rashomon set of a trained network by perturbing its weights towards
flipping one prediction while the loss stays within epsilon of the baseline's; Watson-Daniels et al.
(2024), Sec. 5, use AWP to estimate ambiguity and discrepancy of linear models and networks.

Our rendering solves, for every target point ``k`` at once (one batched copy of the parameters per
target, no Python loop over points), the penalised problem

    min_theta  L(theta) + mu_t * relu(p_k * f_theta(x_k) + delta)

from ``theta_0`` (the baseline), where ``L`` is the mean training log-loss, ``f_theta(x_k)`` the
logit of point ``k``, ``p_k = +-1`` the baseline's label, and ``mu_t`` grows geometrically: the
iterates move from the baseline towards the least-loss model that flips ``k``. After each step the
Rashomon test is applied with the true metric (error rate or log-loss on the training data); the
first iterate that flips ``k`` and passes is kept and its copy frozen. For a linear model and
``metric="log_loss"`` the problem is convex. Models: two-class linear classifiers (``coef_``,
``intercept_``) and two-class multi-layer perceptrons (scikit-learn's ``MLPClassifier``), run in
torch on ``device``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from threadpoolctl import threadpool_limits

from econcs.churn._models import LinearClassifier, MLPModel, _is_binary_mlp, _is_linear
from econcs.shared import (
    Params,
    check_choice,
    check_float,
    cpu_threads,
    param,
    resolve_device,
    resolve_params,
)

__all__ = ["AWPParams", "AWPResult", "awp_search"]


@dataclasses.dataclass(frozen=True)
class AWPResult:
    """Outcome of :func:`awp_search`.

    Attributes
    ----------
    targets
        (n_targets,) indices of the searched points.
    flippable
        (n_targets,) bool, a member flipping the point was found.
    models
        the members found, one per flipped target (same order as ``targets[flippable]``).
    losses
        (n_found,) their training metric values.
    n_steps
        optimisation steps taken; seconds : wall-clock time.
    """

    targets: np.ndarray
    flippable: np.ndarray
    models: list = dataclasses.field(repr=False)
    losses: np.ndarray = dataclasses.field(repr=False)
    n_steps: int = 0
    seconds: float = 0.0


_ACT = {"relu": torch.relu, "tanh": torch.tanh, "logistic": torch.sigmoid,
        "identity": lambda z: z}


def _params_of(model: Any) -> tuple[list[np.ndarray], list[np.ndarray], str]:
    if _is_linear(model):
        coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
        if coef.shape[0] != 1:
            raise ValueError("estimator: AWP supports two-class linear models only, got "
                             f"coef_ of shape {coef.shape}.")
        return [coef.T], [np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))], \
            "identity"
    if _is_binary_mlp(model):
        return ([np.asarray(c, dtype=np.float64) for c in model.coefs_],
                [np.asarray(b, dtype=np.float64) for b in model.intercepts_], model.activation)
    raise TypeError(f"estimator: AWP supports two-class linear models (coef_, intercept_) and "
                    f"two-class MLPClassifier, got {type(model).__name__}.")


def _forward(Ws: list[torch.Tensor], bs: list[torch.Tensor], X: torch.Tensor, act) -> torch.Tensor:
    """Batched logits: Ws[l] (K, n_in, n_out), bs[l] (K, n_out), X (n, d) -> (K, n)."""
    if len(Ws) == 1:  # linear: one matrix product
        return Ws[0][:, :, 0] @ X.T + bs[0]
    h = None
    for layer, (W, b) in enumerate(zip(Ws, bs)):
        h = torch.einsum("nd,kdo->kno", X, W) if h is None else torch.bmm(h, W)
        h = h + b[:, None, :]
        if layer < len(Ws) - 1:
            h = act(h)
    return h[:, :, 0]


@dataclasses.dataclass(frozen=True)
class AWPParams(Params):
    """Parameters of :func:`awp_search` (Hsu and Calmon 2022, Sec. 5)."""

    max_iter: int = param(200, "Adam steps per target", low=1)
    lr: float = param(0.05, "Adam step size", low=0.0, low_inclusive=False)
    mu0: float = param(0.01, "initial flip penalty mu_0", low=0.0)
    mu_growth: float = param(1.05, "penalty growth per step: mu_t = mu0 * mu_growth ** t", low=1.0)
    delta: float = param(1e-3, "logit margin asked of a flip", low=0.0)
    batch_size: int = param(256, "targets optimised together (memory ~ batch_size * n_samples "
                            "* width)", low=1)


def awp_search(
    baseline: Any,
    X: Any,
    y: Any,
    params: AWPParams | None = None,
    /,
    *,
    epsilon: float,
    metric: str = "error",
    targets: Any = None,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    **overrides: Any,
) -> AWPResult:
    """Search, for each target point, for an epsilon-good model that flips it.

    A target that no iterate flips within ``max_iter`` steps is reported as not flippable
    (``flippable[k]`` False): the search gives lower bounds of ambiguity and discrepancy, and
    stopping there is its normal outcome, not a convergence failure.

    Parameters
    ----------
    baseline
        fitted two-class linear classifier or ``MLPClassifier`` (the starting point).
    X
        (n_samples, n_features) training features; y : (n_samples,) labels.
    params, **overrides
        :class:`AWPParams` (``max_iter``, ``lr``, ``mu0``, ``mu_growth``, ``delta``,
        ``batch_size``), or keyword overrides of it.
    epsilon
        Rashomon tolerance on ``metric`` (>= 0).
    metric
        ``"error"`` or ``"log_loss"``, measured on ``(X, y)``.
    targets
        indices of the points to flip (default all).
    device, dtype
        where and in which precision the search runs (verification is float64).
    """
    t0 = time.perf_counter()
    params = resolve_params(AWPParams, params, **overrides)
    eps = check_float(epsilon, "epsilon", low=0.0)
    check_choice(metric, "metric", ("error", "log_loss"))
    dev = resolve_device(device)
    if dev.type != "cpu":
        return _awp_search(baseline, X, y, params, eps, metric, targets, dev, dtype, t0)
    # small batched problems: one thread beats oversubscribed intra-op threads on a busy CPU
    with cpu_threads(1, dev), threadpool_limits(limits=1):
        return _awp_search(baseline, X, y, params, eps, metric, targets, dev, dtype, t0)


def _awp_search(baseline, X, y, params: AWPParams, eps, metric, targets, dev, dtype,
                t0) -> AWPResult:
    Ws0, bs0, activation = _params_of(baseline)
    classes = np.asarray(baseline.classes_)
    Xn = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    n = Xn.shape[0]
    targets = np.arange(n) if targets is None else np.asarray(targets, dtype=np.int64)
    y01 = (y == classes[1]).astype(np.float64)

    def metric_np(logits: np.ndarray) -> np.ndarray:  # (K, n) -> (K,)
        if metric == "error":
            return ((logits > 0) != (y01[None, :] > 0.5)).mean(axis=1)
        return (np.logaddexp(0, logits) - y01[None, :] * logits).mean(axis=1)

    base_logit = _logits_np([W[None] for W in Ws0], [b[None] for b in bs0], Xn, activation)
    p_sign = np.where(base_logit[0] > 0, 1.0, -1.0)
    threshold = float(metric_np(base_logit)[0]) + eps

    def verified(Wj: list[np.ndarray], bj: list[np.ndarray], k: int) -> float | None:
        """The float64 metric of a candidate that flips point ``k`` and is a member, else None."""
        lj = _logits_np([W[None] for W in Wj], [b[None] for b in bj], Xn, activation)
        loss = float(metric_np(lj)[0])
        return loss if p_sign[k] * lj[0, k] < 0 and loss <= threshold else None

    data = (torch.as_tensor(Xn, dtype=dtype, device=dev),
            torch.as_tensor(y01, dtype=dtype, device=dev))
    thr = torch.tensor(threshold + 1e-6, dtype=dtype, device=dev)  # re-verified in float64
    found: dict[int, tuple[list[np.ndarray], list[np.ndarray], float]] = {}
    for start in range(0, len(targets), params.batch_size):
        tb = targets[start:start + params.batch_size]
        for j, member in _search_batch(Ws0, bs0, _ACT[activation], data, thr, tb, p_sign[tb],
                                       metric, params, verified).items():
            found[start + j] = member
    flippable = np.zeros(len(targets), dtype=bool)
    models, losses = [], []
    for j in sorted(found):
        Wj, bj, loss = found[j]
        flippable[j] = True
        losses.append(loss)
        if activation == "identity" and len(Wj) == 1:
            models.append(LinearClassifier(Wj[0].T, bj[0], classes))
        else:
            models.append(MLPModel(Wj, bj, activation, classes))
    return AWPResult(targets=targets, flippable=flippable, models=models,
                     losses=np.asarray(losses, dtype=np.float64), n_steps=params.max_iter,
                     seconds=time.perf_counter() - t0)


def _search_batch(Ws0, bs0, act, data, thr, tb, signs, metric, params: AWPParams,
                  verified) -> dict[int, tuple[list[np.ndarray], list[np.ndarray], float]]:
    """The penalised search for the targets ``tb`` at once (one parameter copy each, Adam by
    hand); returns ``{index in tb: (weights, biases, metric)}`` of the verified flips."""
    Xt, yt = data
    dtype, dev = Xt.dtype, Xt.device
    K = len(tb)
    tensors = [torch.tensor(np.repeat(P[None], K, 0), dtype=dtype, device=dev,
                            requires_grad=True) for P in (*Ws0, *bs0)]
    Ws, bs = tensors[:len(Ws0)], tensors[len(Ws0):]
    m1 = [torch.zeros_like(P) for P in tensors]
    m2 = [torch.zeros_like(P) for P in tensors]
    sign_t = torch.as_tensor(signs, dtype=dtype, device=dev)
    rows = torch.arange(K, device=dev)
    idx_t = torch.as_tensor(tb, device=dev)
    active = torch.ones(K, dtype=torch.bool, device=dev)
    beta1, beta2, adam_eps = 0.9, 0.999, 1e-8
    found = {}
    for step in range(params.max_iter + 1):
        logits = _forward(Ws, bs, Xt, act)  # (K, n)
        z = logits[rows, idx_t]
        with torch.no_grad():
            if metric == "error":
                met = ((logits > 0) != (yt > 0.5)).to(dtype).mean(dim=1)
            else:
                met = (torch.nn.functional.softplus(logits) - yt * logits).mean(dim=1)
            ok = (sign_t * z < 0) & (met <= thr) & active
        for j in torch.nonzero(ok).flatten().tolist():
            Wj = [W[j].detach().double().cpu().numpy() for W in Ws]
            bj = [b[j].detach().double().cpu().numpy() for b in bs]
            loss = verified(Wj, bj, int(tb[j]))
            if loss is not None:
                found[j] = (Wj, bj, loss)
                active[j] = False
        if step == params.max_iter or not bool(active.any()):
            break
        mu = params.mu0 * params.mu_growth**step
        nll = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, yt.expand_as(logits), reduction="none").mean(dim=1)
        obj = nll + mu * torch.relu(sign_t * z + params.delta)
        grads = torch.autograd.grad((obj * active).sum(), tensors)
        with torch.no_grad():  # Adam, frozen copies (found or not) do not move
            for P, g, a1, a2 in zip(tensors, grads, m1, m2):
                a1.mul_(beta1).add_(g, alpha=1 - beta1)
                a2.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                upd = (a1 / (1 - beta1 ** (step + 1))) / (
                    (a2 / (1 - beta2 ** (step + 1))).sqrt() + adam_eps)
                mask = active.to(dtype).view(-1, *([1] * (P.dim() - 1)))
                P.sub_(params.lr * upd * mask)
    return found


def _logits_np(Ws, bs, X, activation) -> np.ndarray:
    acts = {"relu": lambda z: np.maximum(z, 0), "tanh": np.tanh,
            "logistic": expit, "identity": lambda z: z}
    h = None
    for layer, (W, b) in enumerate(zip(Ws, bs)):
        h = np.einsum("nd,kdo->kno", X, W) if h is None else np.einsum("knd,kdo->kno", h, W)
        h = h + b[:, None, :]
        if layer < len(Ws) - 1:
            h = acts[activation](h)
    return h[:, :, 0]

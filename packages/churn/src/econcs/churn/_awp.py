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
from econcs.shared import check_choice, check_float, check_int, cpu_threads, resolve_device

__all__ = ["AWPResult", "awp_search"]


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


def awp_search(
    baseline: Any,
    X: Any,
    y: Any,
    *,
    epsilon: float,
    metric: str = "error",
    targets: Any = None,
    max_iter: int = 200,
    lr: float = 0.05,
    mu0: float = 0.01,
    mu_growth: float = 1.05,
    delta: float = 1e-3,
    batch_size: int = 256,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> AWPResult:
    """Search, for each target point, for an epsilon-good model that flips it.

    Parameters
    ----------
    baseline
        fitted two-class linear classifier or ``MLPClassifier`` (the starting point).
    X
        (n_samples, n_features) training features; y : (n_samples,) labels.
    epsilon
        Rashomon tolerance on ``metric`` (>= 0).
    metric
        ``"error"`` or ``"log_loss"``, measured on ``(X, y)``.
    targets
        indices of the points to flip (default all).
    max_iter
        Adam steps; lr : Adam step size; mu0, mu_growth : penalty schedule
        ``mu_t = mu0 * mu_growth ** t``; delta : logit margin asked of a flip.
    batch_size
        targets optimised together (memory ~ batch_size * n_samples * width).
    device, dtype
        where and in which precision the search runs (verification is float64).
    """
    t0 = time.perf_counter()
    dev = resolve_device(device)
    if dev.type != "cpu":
        return _awp_search(baseline, X, y, epsilon, metric, targets, max_iter, lr, mu0,
                           mu_growth, delta, batch_size, dev, dtype, t0)
    # small batched problems: one thread beats oversubscribed intra-op threads on a busy CPU
    with cpu_threads(1, dev), threadpool_limits(limits=1):
        return _awp_search(baseline, X, y, epsilon, metric, targets, max_iter, lr, mu0,
                           mu_growth, delta, batch_size, dev, dtype, t0)


def _awp_search(baseline, X, y, epsilon, metric, targets, max_iter, lr, mu0, mu_growth, delta,
                batch_size, dev, dtype, t0) -> AWPResult:
    eps = check_float(epsilon, "epsilon", low=0.0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    check_choice(metric, "metric", ("error", "log_loss"))
    Ws0, bs0, activation = _params_of(baseline)
    classes = np.asarray(baseline.classes_)
    act = _ACT[activation]
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
    base_loss = float(metric_np(base_logit)[0])
    p_sign = np.where(base_logit[0] > 0, 1.0, -1.0)
    threshold = base_loss + eps

    Xt = torch.as_tensor(Xn, dtype=dtype, device=dev)
    yt = torch.as_tensor(y01, dtype=dtype, device=dev)
    thr = torch.tensor(threshold + 1e-6, dtype=dtype, device=dev)  # re-verified in float64
    flippable = np.zeros(len(targets), dtype=bool)
    found: dict[int, tuple[list[np.ndarray], list[np.ndarray], float]] = {}
    beta1, beta2, adam_eps = 0.9, 0.999, 1e-8
    for start in range(0, len(targets), batch_size):
        tb = targets[start:start + batch_size]
        K = len(tb)
        params = [torch.tensor(np.repeat(P[None], K, 0), dtype=dtype, device=dev,
                               requires_grad=True) for P in (*Ws0, *bs0)]
        Ws, bs = params[:len(Ws0)], params[len(Ws0):]
        m1 = [torch.zeros_like(P) for P in params]
        m2 = [torch.zeros_like(P) for P in params]
        sign_t = torch.as_tensor(p_sign[tb], dtype=dtype, device=dev)
        rows = torch.arange(K, device=dev)
        idx_t = torch.as_tensor(tb, device=dev)
        active = torch.ones(K, dtype=torch.bool, device=dev)
        for step in range(max_iter + 1):
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
                lj = _logits_np([W[None] for W in Wj], [b[None] for b in bj], Xn, activation)
                if p_sign[tb[j]] * lj[0, tb[j]] < 0 and metric_np(lj)[0] <= threshold:
                    found[start + j] = (Wj, bj, float(metric_np(lj)[0]))
                    active[j] = False
            if step == max_iter or not bool(active.any()):
                break
            mu = mu0 * mu_growth**step
            nll = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, yt.expand_as(logits), reduction="none").mean(dim=1)
            obj = nll + mu * torch.relu(sign_t * z + delta)
            grads = torch.autograd.grad((obj * active).sum(), params)
            with torch.no_grad():  # Adam, frozen copies (found or not) do not move
                for P, g, a1, a2 in zip(params, grads, m1, m2):
                    a1.mul_(beta1).add_(g, alpha=1 - beta1)
                    a2.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                    upd = (a1 / (1 - beta1 ** (step + 1))) / (
                        (a2 / (1 - beta2 ** (step + 1))).sqrt() + adam_eps)
                    mask = active.to(dtype).view(-1, *([1] * (P.dim() - 1)))
                    P.sub_(lr * upd * mask)
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
                     losses=np.asarray(losses, dtype=np.float64), n_steps=max_iter,
                     seconds=time.perf_counter() - t0)


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

"""gradient_ascent: the optimum of a concave objective, exact resume, divergence and bad input."""

import pytest
import torch
from torch import nn

from econcs.shared import DivergenceError, gradient_ascent


def _problem(seed: int = 0):
    torch.manual_seed(seed)
    model = nn.Linear(3, 1, bias=False)
    gen = torch.Generator().manual_seed(seed)
    target = torch.tensor([[1.0, -2.0, 0.5]])

    def objective(step: int) -> torch.Tensor:
        x = torch.randn(64, 3, generator=gen)
        return -(model(x) - x @ target.T).square().mean()  # max 0 at weight = target

    return model, gen, objective, target


def test_reaches_the_maximiser_of_a_noisy_concave_objective():
    model, gen, objective, target = _problem()
    rows = gradient_ascent(model, objective, lr=0.05, lr_final=0.001, max_iter=600, generator=gen,
                           log_every=200)
    torch.testing.assert_close(model.weight.detach(), target, atol=1e-3, rtol=0)
    assert [r["step"] for r in rows] == [200, 400, 600]
    assert rows[-1]["train_profit"] > -1e-5


def test_resume_takes_the_same_iterates_as_an_uninterrupted_run():
    model, gen, objective, _ = _problem()
    full = gradient_ascent(model, objective, lr=0.05, lr_final=0.01, max_iter=40, generator=gen,
                           log_every=10)
    whole = model.weight.detach().clone()

    saved = {}

    def stop_at_25(step, metrics, state_fn):
        if step == 25:
            saved["state"] = {k: v for k, v in state_fn().items()}
            raise KeyboardInterrupt

    model, gen, objective, _ = _problem()
    with pytest.raises(KeyboardInterrupt):
        gradient_ascent(model, objective, lr=0.05, lr_final=0.01, max_iter=40, generator=gen,
                        log_every=10, callback=stop_at_25, extra={"tag": 7})
    assert saved["state"]["tag"] == 7
    model, gen, objective, _ = _problem(seed=1)  # other weights and draws: the state must win
    resumed = gradient_ascent(model, objective, lr=0.05, lr_final=0.01, max_iter=40, generator=gen,
                              log_every=10, resume=(25, saved["state"]))
    assert torch.equal(model.weight.detach(), whole)
    assert resumed == full


def test_a_non_finite_objective_stops_with_a_divergence_error():
    model = nn.Linear(1, 1)
    with pytest.raises(DivergenceError, match="train_profit: got nan at step 1; lower lr"):
        gradient_ascent(model, lambda t: model.weight.sum() * float("nan"), lr=0.1, lr_final=0.1,
                        max_iter=5, generator=torch.Generator())


@pytest.mark.parametrize(("kw", "match"), [
    ({"lr": 0.0}, "lr: expected a number > 0"),
    ({"lr_final": -1.0}, "lr_final: expected a number > 0"),
    ({"max_iter": -1}, "max_iter"),
    ({"log_every": 0}, "log_every"),
])
def test_bad_input_names_the_argument(kw, match):
    model = nn.Linear(1, 1)
    args = {"lr": 0.1, "lr_final": 0.01, "max_iter": 3, "generator": torch.Generator(), **kw}
    with pytest.raises(ValueError, match=match):
        gradient_ascent(model, lambda t: model.weight.sum(), **args)

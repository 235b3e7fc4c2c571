"""Social Environment Design on the commons-harvest gridworld: the PettingZoo API, the game's
mechanics (collection, regrowth probabilities, the bracket tax and its rebate), the exact planner's
optimum against an independent brute force, the learners, the experiment, plots and bad input."""

import itertools

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose

from econcs.contracts.social import (
    HarvestEnv,
    HarvestGame,
    HarvestLearnerParams,
    HarvestLearners,
    HarvestSEDParams,
    Objective,
    design,
    harvest_optimum,
    run_sed_harvest,
    walking_optimum,
)

F64 = torch.float64


def test_harvest_env_parallel_api():
    from pettingzoo.test import parallel_api_test

    game = HarvestGame(3, layout=("AAA..", "AAA..", "....."), max_steps=12, tax_period=5,
                       cutoffs=(1.0, 2.0))
    parallel_api_test(HarvestEnv(game, [0.0, 0.5, 1.0]), num_cycles=30)
    env = HarvestEnv(game, [0.0, 0.0, 0.0], view=1)
    obs, _ = env.reset(seed=3)
    assert obs["agent_0"].shape == (2 * 9 + 2 + 3,)
    with pytest.raises(ValueError, match="actions"):
        env.step({a: 7 for a in env.possible_agents})
    with pytest.raises(ValueError, match="actions"):
        env.step({"agent_0": 0})
    with pytest.raises(ValueError, match="tax"):
        HarvestEnv(game, [0.0, 2.0, 0.0])


def _state(game, apples, cells, period=None):
    b = len(apples)
    return {"apples": torch.tensor(apples, dtype=torch.bool),
            "cell": torch.tensor(cells, dtype=torch.long),
            "period": torch.zeros(b, game.n_agents, dtype=F64) if period is None
            else torch.tensor(period, dtype=F64), "t": 0}


def test_collection_the_lowest_index_wins_and_the_bracket_tax_is_rebated():
    # one row "A.A..": orchard cells 0 and 2; agents at cells 1 and 3
    game = HarvestGame(2, layout=("A.A..",), regrowth=(0, 0, 0, 0), cutoffs=(1.0, 2.0),
                       tax_period=1, max_steps=5)
    phi = torch.tensor([[0.0, 0.5, 1.0]], dtype=F64)
    # agent 0 moves left onto cell 0, agent 1 left onto cell 2: one apple each
    state, reward, ext, got = game.step(_state(game, [[1, 1]], [[1, 3]], [[2.0, 0.0]]),
                                        torch.tensor([[3, 3]]), phi)
    assert got.tolist() == [[1.0, 1.0]]
    assert state["apples"].tolist() == [[False, False]]
    # agent 0 had 2 apples this period, now 3: tax 0 + 0.5 + 1 = 1.5; agent 1: 1 apple, 0 tax
    assert_allclose(game.tax(torch.tensor([[3.0, 1.0]]), phi), [[1.5, 0.0]])
    assert_allclose(ext, [[1 - 1.5 + 0.75, 1 + 0.75]])
    assert_allclose(ext.sum(), got.sum())  # the tax is rebated: the total is the apples
    assert_allclose(reward, ext)  # selfish, trusting agents are paid the extrinsic reward
    assert state["period"].tolist() == [[0.0, 0.0]]  # a new period
    # both agents onto the same apple: agent 0 takes it
    _, _, _, got = game.step(_state(game, [[0, 1]], [[1, 3]]), torch.tensor([[4, 3]]), phi)
    assert got.tolist() == [[1.0, 0.0]]


def test_typed_rewards_mix_extrinsic_and_intrinsic():
    game = HarvestGame(2, layout=("A.A..",), regrowth=(0, 0, 0, 0), tax_period=50,
                       selfishness=[0.25, 1.0], trust=[0.5, 0.0])
    _, reward, ext, got = game.step(_state(game, [[1, 1]], [[1, 4]]), torch.tensor([[3, 0]]),
                                    torch.zeros(1, 3, dtype=F64))
    assert got.tolist() == [[1.0, 0.0]] and ext.tolist() == [[1.0, 0.0]]
    # r = beta r_ext + (1 - beta) (sigma a + (1 - sigma) (sum_j a_j - a))
    assert_allclose(reward, [[0.5 * 1 + 0.5 * 0.25, 0.0]])


def test_regrowth_probability_by_neighbours():
    # orchard cells 0..3 in a row, the agent far away on the floor; apples on 0 and 2 only
    reg = (0.0, 0.1, 0.3, 0.6)
    game = HarvestGame(1, layout=("AAAA....",), regrowth=reg, max_steps=100)
    b = 40_000
    apples = [[1, 0, 1, 0]] * b
    state, _, _, _ = game.step(_state(game, apples, [[7]] * b), torch.zeros(b, 1, dtype=torch.long),
                               torch.zeros(b, 3, dtype=F64),
                               generator=torch.Generator().manual_seed(0))
    freq = state["apples"].double().mean(0).numpy()
    # cell 1 has both apples within radius 2 (k = 2); cell 3 has cell 2 only (k = 1)
    se = np.sqrt(0.3 * 0.7 / b)
    assert abs(freq[1] - 0.3) < 4 * se and abs(freq[3] - 0.1) < 4 * np.sqrt(0.09 / b)
    assert freq[0] == 1.0 and freq[2] == 1.0
    # an agent standing on an empty orchard cell blocks its regrowth
    state, _, _, _ = game.step(_state(game, [[1, 0, 1, 0]] * 100, [[1]] * 100),
                               torch.zeros(100, 1, dtype=torch.long),
                               torch.zeros(100, 3, dtype=F64))
    assert not state["apples"][:, 1].any()


def _brute_force(cells, regrowth, steps):
    """Exact expectation by recursion over every harvest decision (independent of the
    library's backward induction over bitmasks)."""
    cells = [tuple(c) for c in cells]
    near = {i: [j for j in range(len(cells)) if j != i and
                (cells[i][0] - cells[j][0]) ** 2 + (cells[i][1] - cells[j][1]) ** 2 <= 4]
            for i in range(len(cells))}

    def value(present, left):
        if left == 0:
            return 0.0
        best = 0.0
        for keep in itertools.product([0, 1], repeat=len(cells)):
            if any(k and not p for k, p in zip(keep, present)):
                continue
            gain = sum(present) - sum(keep)
            probs = [1.0 if keep[i] else regrowth[min(sum(keep[j] for j in near[i]), 3)]
                     for i in range(len(cells))]
            cont = 0.0
            for nxt in itertools.product([0, 1], repeat=len(cells)):
                pr = np.prod([p if x else 1 - p for p, x in zip(probs, nxt)])
                if pr > 0:
                    cont += pr * value(nxt, left - 1)
            best = max(best, gain + cont)
        return best

    return value(tuple([1] * len(cells)), steps)


def test_harvest_optimum_against_brute_force_and_patch_decomposition():
    reg = (0.0, 0.2, 0.4, 0.7)
    game = HarvestGame(1, layout=("AA.", ".A."), regrowth=reg, max_steps=4)
    assert_allclose(harvest_optimum(game), _brute_force([(0, 0), (0, 1), (1, 1)], reg, 4),
                    rtol=1e-12)
    # greedy harvest (all at once) collects the 3 apples; the planner does strictly better
    assert harvest_optimum(game) > 3.0
    # two patches 5 cells apart regrow independently: twice one patch
    one = HarvestGame(1, layout=("AAA....",) * 3, regrowth=reg, max_steps=20)
    two = HarvestGame(1, layout=("AAA.....AAA",) * 3, regrowth=reg, max_steps=20)
    assert_allclose(harvest_optimum(two), 2 * harvest_optimum(one), rtol=1e-12)
    with pytest.raises(ValueError, match="patch"):
        harvest_optimum(HarvestGame(1, layout=("AAAAAAA",) * 2))


def test_harvest_learners_learn_and_the_principal_designs_with_them():
    game = HarvestGame(1, layout=("AAA..", "AAA..", "....."), regrowth=(0, 0.05, 0.1, 0.3),
                       tax_period=10, max_steps=30)
    learners = HarvestLearners(game, [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], seed=0, batch_size=16)
    before = float(learners.evaluate([0], 256).sum(-1).mean())
    learners.learn([0], steps=30)
    after = float(learners.evaluate([0], 256).sum(-1).mean())
    assert after > before + 1.0  # it learned to find apples
    assert after <= harvest_optimum(game)  # never above the planner's optimum
    assert learners.updates.tolist() == [30, 0]  # only the pulled context learned
    res = design(learners, Objective("utilitarian"), max_iter=2, agent_steps=2)
    assert res.iterations == 2 and (res.counts == 1).all()
    state = learners.state_dict()
    again = HarvestLearners(game, [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], seed=5, batch_size=16)
    again.load_state_dict(state)
    assert_allclose(again.evaluate([0, 1], 8), learners.evaluate([0, 1], 8))


def _tiny_orchard():
    return HarvestGame(1, layout=("AAA..", "AAA..", "....."), regrowth=(0, 0.05, 0.1, 0.3),
                       tax_period=10, max_steps=30)


@pytest.mark.parametrize("regrowth", [(0, 1, 1, 1), (0, 0, 1, 1), (0, 0, 0, 1), (1, 1, 1, 1)])
def test_walking_optimum_against_brute_force_over_action_sequences(regrowth):
    # regrowth probabilities 0 / 1 make the game deterministic: the best open-loop sequence of
    # moves from each floor cell (all 5^5, played by HarvestGame.step itself) is the optimum
    game = HarvestGame(1, layout=("AAA", "..."), regrowth=regrowth, max_steps=5)
    floor = torch.nonzero(game.orchard_index < 0)[:, 0]
    seqs = torch.tensor(list(itertools.product(range(5), repeat=5)))
    n = len(seqs) * len(floor)
    state = game.reset(n)
    state["cell"] = floor.repeat_interleave(len(seqs))[:, None]
    acts, total = seqs.repeat(len(floor), 1), torch.zeros(n, dtype=F64)
    for t in range(5):
        state, _, _, got = game.step(state, acts[:, t:t + 1], torch.zeros(n, 3, dtype=F64))
        total += got[:, 0]
    brute = float(total.reshape(len(floor), -1).max(1).values.mean())
    assert walking_optimum(game) == pytest.approx(brute, abs=1e-12)
    assert walking_optimum(game) <= harvest_optimum(game) + 1e-12
    with pytest.raises(ValueError, match="agent"):
        walking_optimum(HarvestGame(2, layout=("AAA", "...")))
    with pytest.raises(ValueError, match="layout"):
        walking_optimum(HarvestGame(1, layout=("AAAAA", "AAAAA")))


def test_ppo_with_one_epoch_takes_the_reinforce_step():
    # at the rollout's own policy the ratio is 1: the clipped surrogate's gradient is REINFORCE's
    game = _tiny_orchard()
    rf = HarvestLearners(game, [[0.0, 0.0, 0.0]], seed=3, batch_size=8)
    ppo = HarvestLearners(game, [[0.0, 0.0, 0.0]], seed=3, batch_size=8, update="ppo",
                          ppo_epochs=1)
    rf.learn([0], 3)
    ppo.learn([0], 3)
    assert_allclose(ppo.state_dict()["logits"], rf.state_dict()["logits"], rtol=0, atol=1e-12)
    # more epochs reuse the episode: a different (larger) step from the same rollout
    more = HarvestLearners(game, [[0.0, 0.0, 0.0]], seed=3, batch_size=8, update="ppo",
                           ppo_epochs=4)
    more.learn([0], 1)
    one = HarvestLearners(game, [[0.0, 0.0, 0.0]], seed=3, batch_size=8, update="ppo",
                          ppo_epochs=1)
    one.learn([0], 1)
    moved = [float(x.state_dict()["logits"].abs().max()) for x in (one, more)]
    assert moved[1] > 2 * moved[0]


def test_ppo_agents_learn_to_harvest():
    game = _tiny_orchard()
    learners = HarvestLearners(game, [[0.0, 0.0, 0.0]], seed=0, batch_size=16, update="ppo")
    before = float(learners.evaluate([0], 256).sum(-1).mean())
    learners.learn([0], steps=30)
    after = float(learners.evaluate([0], 256).sum(-1).mean())
    # measured: 5.0 apples for the uniform policy, 11.0-12.0 (61-66% of the walking optimum
    # 18.11) after 30-60 PPO or REINFORCE episodes (seeds 0, 1): the local observation does not
    # see the whole orchard; the planner who needs no walking gets 32.1
    best = walking_optimum(game)
    assert after > 2 * before and after > 0.55 * best
    assert after <= best <= harvest_optimum(game)


def test_gradient_principal_designs_the_harvest_tax():
    game = _tiny_orchard()
    learners = HarvestLearners(game, [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]], seed=0, batch_size=8)
    res = design(learners, Objective("utilitarian"), method="gradient", max_iter=5,
                 agent_steps=2, rng=np.random.default_rng(0))
    assert res.iterations == 5 and res.counts.sum() == 5 and (res.counts >= 1).all()
    assert res.policy.shape == (2,) and abs(res.policy.sum() - 1) < 1e-12
    assert res.index == int(np.argmax(res.policy))
    assert learners.updates.sum() == 5 * 2  # the agents learned during every pull


def test_sed_harvest_experiment_tiny(tmp_path):
    from econcs.contracts._experiments import EXPERIMENTS
    from econcs.shared.experiments import config_from_overrides, run_experiment

    exp = {e.name: e for e in EXPERIMENTS.experiments}["contracts.sed-harvest"]
    config = config_from_overrides(exp.config, {"max_steps": 20, "agent_steps": 2,
                                                "play_steps": 1, "n_seeds": 2, "n_eval": 8,
                                                "plot": True})
    rec = run_experiment(exp, config, seed=0, device="cpu", out_dir=tmp_path)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pass
    else:  # the round plots were written
        assert sorted(p.name for p in tmp_path.rglob("*.png")) == ["rounds.png",
                                                                   "tax_schedule.png"]
    assert set(rec.references) <= set(rec.metrics)
    assert {"elected_objective", "tax", "welfare", "gini", "productivity", "tax_gain",
            "harvest_optimum"} <= set(rec.metrics)
    assert rec.metrics["apples"] <= rec.metrics["harvest_optimum"]
    with pytest.raises(ValueError, match="taxes"):
        config_from_overrides(exp.config, {"taxes": "0.5,1.0"})
    with pytest.raises(ValueError, match="taxes"):
        config_from_overrides(exp.config, {"taxes": "0,1.5"})
    with pytest.raises(ValueError, match="n_agents"):
        config_from_overrides(exp.config, {"n_agents": 0})
    with pytest.raises(ValueError, match="delta"):
        config_from_overrides(exp.config, {"delta": -0.5})
    with pytest.raises(ValueError, match="voting"):
        config_from_overrides(exp.config, {"voting": "dictator"})


def test_plots_of_the_rounds():
    pytest.importorskip("matplotlib")
    from econcs.contracts.social import plot_rounds, plot_tax_schedule

    history = [{"step": 1, "welfare": 1.0, "tax": 0.2, "gini": 0.3},
               {"step": 2, "welfare": 1.5, "tax": 0.4, "gini": 0.2}]
    fig = plot_rounds(history, ("welfare", "gini"))
    assert len(fig.axes) == 2
    line = fig.axes[0].lines[0]
    assert line.get_ydata().tolist() == [1.0, 1.5]
    fig = plot_tax_schedule([{"step": 1, "rate_0": 0.0, "rate_1": 1.0}])
    assert len(fig.axes[0].lines) == 2
    with pytest.raises(ValueError, match="keys"):
        plot_rounds(history, ("apples",))
    with pytest.raises(ValueError, match="history"):
        plot_rounds([], ("welfare",))


def test_harvest_bad_input():
    with pytest.raises(ValueError, match="n_agents"):
        HarvestGame(0)
    with pytest.raises(ValueError, match="layout"):
        HarvestGame(1, layout=("AX",))
    with pytest.raises(ValueError, match="layout"):
        HarvestGame(1, layout=("...",))
    with pytest.raises(ValueError, match="regrowth"):
        HarvestGame(1, regrowth=(0.0, 0.1))
    with pytest.raises(ValueError, match="regrowth"):
        HarvestGame(1, regrowth=(0.0, 0.1, 0.2, 1.5))
    with pytest.raises(ValueError, match="cutoffs"):
        HarvestGame(1, cutoffs=(2.0, 1.0))
    with pytest.raises(ValueError, match="selfishness"):
        HarvestGame(2, selfishness=[0.5])
    with pytest.raises(ValueError, match="tax"):
        HarvestGame(1).tax(torch.ones(1, 1), [[0.0, 0.5]])
    with pytest.raises(ValueError, match="tax"):
        HarvestLearners(HarvestGame(1), [[0.0, 0.0, -1.0]])
    game = HarvestGame(1, layout=("AA.",), max_steps=2)
    with pytest.raises(ValueError, match="tax"):
        run_sed_harvest(game, [[0.0, 0.0, 1.5]])
    with pytest.raises(ValueError, match="delta"):
        run_sed_harvest(game, [[0.0, 0.0, 0.0]], delta=-1.0)
    with pytest.raises(ValueError, match="voting"):
        HarvestSEDParams(voting="borda")  # ranked ballots need exact best responses
    with pytest.raises(ValueError, match="objective"):
        HarvestSEDParams(objective="rawlsian")
    with pytest.raises(ValueError, match="update"):
        HarvestLearnerParams(update="dqn")
    with pytest.raises(ValueError, match="clip"):
        HarvestLearnerParams(clip=0.0)
    with pytest.raises(ValueError, match="resume"):
        run_sed_harvest(game, [[0.0, 0.0, 0.0]], rounds=1, resume=(3, {
            "learners": HarvestLearners(game, [[0.0, 0.0, 0.0]]).state_dict(),
            "phi_prev": torch.zeros(3), "history": [], "elected": [], "elected_eta": []}))

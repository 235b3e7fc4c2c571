"""The per-cell programs of GemNet's price transform (Wang, Jiang, Parkes, EC 2024, Sec. 5).

:meth:`econcs.auctions.GemNet.transform` changes the prices of bidder ``i``'s menu at one grid
cell of the others' values at a time. Everything such a cell needs is here, on NumPy arrays: the
fit test of each option next to the others' allocation at ``i``'s grid values (:func:`_fits`),
the revenue-maximising mixed-integer program on HiGHS (:func:`_price_milp`), the dominated options
it skips (:func:`_dominated`), the two fallbacks that always fit (:func:`_raise_unfit`,
:func:`_remove_unfit`) and the revenue on the grid by which the cell keeps the best of them
(:func:`_cell_revenue`). Shapes: ``u`` (X, K) utilities at ``i``'s X grid values, ``a`` (K, m)
and ``p`` (K,) the menu's allocations and prices, ``rest`` / ``r`` (X, m) the others' allocation.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []


def _fits(a, rest, tol):
    """``(X, K + 1)``: whether each option of ``a`` (K, m), and the null option last, fits next
    to the others' allocation ``rest`` (X, m) at each grid value (over-allocation below ``tol / 2``
    is float rounding)."""
    fits = np.all(a[None] + rest[:, None] <= 1 + tol / 2, axis=-1)
    return np.concatenate([fits, np.ones((fits.shape[0], 1), bool)], 1)


def _price_milp(u, a, p, rest, margin, d_max, tol, time_limit, fixed=False, node_limit=None):
    """Revenue-maximising price changes ``d`` (K,) for one menu at one cell of the others' values.

    ``u`` (X, K) utilities at the bidder's X grid values, ``a`` (K, m) and ``p`` (K,) the menu,
    ``rest`` (X, m) the others' allocation. Variables: ``d = d+ - d-`` with ``|d| <= d_max``,
    binary ``z[x, k]`` (option ``k`` is chosen at ``x``) for the candidates, which fit into
    ``1 - rest[x]`` and can beat every other option by ``margin`` within the bound (other options,
    and rivals that cannot catch up, are skipped), and the payment ``r[x]``. Maximises
    ``sum_x r[x] - 1e-3 sum |d|``; ``None`` if infeasible; a program stopped by ``time_limit``
    or after ``node_limit`` branch-and-bound nodes (HiGHS ``mip_max_nodes``) returns its best
    solution, and without one raises :class:`econcs.shared.solvers.SolverError`. ``fixed=True`` keeps
    one candidate per ``x``, the fitting option of highest utility at the current prices (an LP).
    """
    from scipy import sparse

    from econcs.shared.solvers import InfeasibleError, solve_milp  # HiGHS, imported on use

    n_x, k = u.shape
    u_full = np.concatenate([u, np.zeros((n_x, 1))], axis=1)  # null option last, d = 0
    p_full = np.concatenate([p, [0.0]])
    fits = _fits(a, rest, tol)  # (X, K + 1)
    slack = np.concatenate([np.full(k, d_max), [0.0]])  # how far each option's utility moves
    low = u_full - slack  # the lowest utility each option can be pushed to
    order = np.argsort(-low, axis=1)
    top = np.take_along_axis(low, order[:, :2], 1)  # best and second best
    others_best = np.where(np.arange(k + 1)[None] == order[:, :1], top[:, 1:], top[:, :1])
    cand = fits & (u_full + slack >= others_best + margin)
    if fixed:
        best_fit = np.where(fits, u_full, -np.inf).argmax(1)
        cand = cand & (np.arange(k + 1)[None] == best_fit[:, None])
    if not cand.any(1).all():
        return None
    # rivals (x, k, k2): candidate k at x against an option that can catch up with it
    gap = u_full[:, :, None] - u_full[:, None, :]  # (X, K+1, K+1)
    reach = slack[:, None] + slack[None, :]
    rival = cand[:, :, None] & (gap < reach[None] + margin)
    rival[:, np.arange(k + 1), np.arange(k + 1)] = False
    zid = np.full(cand.shape, -1)
    zx, zk = np.nonzero(cand)
    n_z = zx.size
    zid[zx, zk] = np.arange(n_z)
    n_var = 2 * k + n_z + n_x  # d+, d-, z, r
    # selection: d_k - d_k2 + M z <= u_k - u_k2 - margin + M with M = margin + reach - gap
    x, kk, k2 = np.nonzero(rival)
    big = margin + reach[kk, k2] - gap[x, kk, k2]
    rows = [np.arange(x.size)]
    cols = [2 * k + zid[x, kk]]
    vals = [big]
    rhs = [gap[x, kk, k2] - margin + big]
    r = x.size
    for opt, sign in ((kk, 1.0), (k2, -1.0)):
        real = opt < k
        for off, s in ((0, sign), (k, -sign)):
            rows.append(np.nonzero(real)[0])
            cols.append(off + opt[real])
            vals.append(np.full(real.sum(), s))
    # revenue: r_x - d_k + M z <= p_k + M for each candidate, M = max reachable price - p_k + d
    p_top = (p_full + slack)[None].repeat(n_x, 0)
    p_top = np.where(cand, p_top, -np.inf).max(1)
    m_rev = p_top[zx] - (p_full[zk] - slack[zk]) + 1e-6
    rr = r + np.arange(n_z)
    rows += [rr, rr]
    cols += [2 * k + n_z + zx, 2 * k + zid[zx, zk]]
    vals += [np.ones(n_z), m_rev]
    real = zk < k
    rows += [rr[real], rr[real]]
    cols += [zk[real], k + zk[real]]
    vals += [-np.ones(real.sum()), np.ones(real.sum())]
    rhs.append(p_full[zk] + m_rev)
    a_ub = sparse.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                            shape=(r + n_z, n_var))
    a_eq = sparse.csr_array((np.ones(n_z), (zx, 2 * k + np.arange(n_z))), shape=(n_x, n_var))
    cost = np.concatenate([np.full(2 * k, 1e-3), np.zeros(n_z), -np.ones(n_x)])
    bounds = [(0, d_max)] * (2 * k) + [(0, 1)] * n_z + [(None, None)] * n_x
    integrality = np.concatenate([np.zeros(2 * k, int), np.ones(n_z, int), np.zeros(n_x, int)])
    try:
        res = solve_milp(cost, a_ub, np.concatenate(rhs), a_eq, np.ones(n_x), bounds=bounds,
                         integrality=integrality, time_limit=time_limit, mip_rel_gap=1e-3,
                         options=None if node_limit is None else {"mip_max_nodes": node_limit})
    except InfeasibleError:
        return None
    return res.x[:k] - res.x[k: 2 * k]


def _dominated(a, p):
    """Options ``(K,)`` that another option weakly dominates: it allocates at least as much of
    every item at no higher price (``a`` (K, m), ``p`` (K,)), strictly better somewhere or, for
    identical options, of lower index. A dominated option is never a strict best choice, but
    in a price-change program it is one more rival to separate by the margin from the option it
    ties with (on sharp menus most of the 64 options: the programs then find no solution in
    time). The relation is a strict order, so every dominated option has an undominated one."""
    ge = np.all(a[None] >= a[:, None], -1) & (p[None] <= p[:, None])  # [k, k2]: k2 >= k
    better = np.any(a[None] > a[:, None], -1) | (p[None] < p[:, None])
    idx = np.arange(len(p))
    return (ge & (better | (idx[None] < idx[:, None]))).any(1)


def _cell_revenue(u, a, p, r, d, tol):
    """Bidder ``i``'s revenue over its grid values at one cell (``u`` (X, K), ``a`` (K, m),
    ``p`` (K,), ``r`` (X, m) as in :func:`_price_milp`) after price changes ``d`` (K,);
    ``-inf`` if a choice does not fit next to the others' allocation."""
    n_x = u.shape[0]
    choice = np.concatenate([u - d, np.zeros((n_x, 1))], 1).argmax(1)
    if not _fits(a, r, tol)[np.arange(n_x), choice].all():
        return -np.inf
    return float(np.concatenate([p + d, [0.0]])[choice].sum())


def _raise_unfit(u, a, r, tol, margin, ceiling):
    """Fallback price changes ``(K,)``: wherever the choice does not fit, raise the options that
    do not fit there just enough that the best fitting one (or nothing) beats them by
    ``margin``; repeat until every choice fits (an option raised to ``ceiling`` is out of the
    menu). Gentler than :func:`_remove_unfit`, which it beats on most cells of sharp menus
    (and loses to on some: :meth:`GemNet._fix_grid` keeps the better). ``u`` (X, K), ``a``
    (K, m), ``r`` (X, m) as in :func:`_price_milp`; ``None`` if not done after ``10 K``
    rounds."""
    n_x, k = u.shape
    fits = _fits(a, r, tol)
    base = np.concatenate([u, np.zeros((n_x, 1))], 1)
    d = np.zeros(k + 1)
    for _ in range(10 * k):
        util = base - d
        bad = ~fits[np.arange(n_x), util.argmax(1)]
        if not bad.any():
            return d[:k]
        target = np.where(fits, util, -np.inf).max(1, keepdims=True) - margin
        need = np.where(~fits, util - target, 0.0)[bad].max(0)  # (K + 1,), 0 for the null
        d = np.minimum(d + np.maximum(need, 0.0), ceiling)
    return None


def _remove_unfit(u, a, rest, tol, ceiling):
    """Fallback price changes ``(K,)``: raise the price of the chosen option by ``ceiling`` (out
    of the menu) wherever it does not fit, until every choice fits (the null option does).
    ``u`` (X, K), ``a`` (K, m), ``rest`` (X, m) as in :func:`_price_milp`."""
    n_x, k = u.shape
    fits = _fits(a, rest, tol)  # (X, K + 1); choices below are real options
    out = np.zeros(k, bool)
    while True:  # at most K rounds
        util = np.where(out[None], -np.inf, u)
        choice = util.argmax(1)
        taken = util[np.arange(n_x), choice] > 0
        bad = taken & ~fits[np.arange(n_x), choice]
        if not bad.any():
            return np.where(out, ceiling, 0.0)
        out[choice[bad]] = True

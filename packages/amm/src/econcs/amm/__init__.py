"""econcs-amm: optimal multi-good automated market makers (Curry, Fan, Parkes 2024, arXiv 2402.09129).

- the market and its profit with adverse selection (:func:`trade_profit`);
- the single-good optimum in closed form (:func:`one_good_optimum`);
- reference menus (:func:`separate_prices_menu`, the conjectured two-good :func:`conjectured_menu`)
  with exact (:func:`menu_profit`) and Monte Carlo (:func:`menu_profit_mc`) profits;
- the optimal-transport dual on a grid as a sparse LP on HiGHS (:func:`solve_dual`), its plain-OT
  cross-check on POT (:func:`ot_dual`) and :func:`duality_gap`;
- RochetNet-style learned menus of trades (:class:`MenuNet`, :func:`train_menu`);
- the parameterised menu, one network ``(c, l) -> menu`` (:class:`ParamMenuNet`,
  :func:`train_param_menu`);
- value distributions on ``[0, 1]^m`` (:func:`make_values`).
"""

from importlib.metadata import PackageNotFoundError, version

from econcs.amm._closed_form import OneGoodOptimum, one_good_optimum, one_good_profit
from econcs.amm._dual import DualParams, DualResult, duality_gap, ot_dual, solve_dual
from econcs.amm._market import trade_profit
from econcs.amm._menunet import MenuNet, MenuNetParams, MenuResult, evaluate_menu, train_menu
from econcs.amm._param_menu import (
    ParamMenuNet,
    ParamMenuParams,
    ParamMenuResult,
    evaluate_param_menu,
    load_param_menu,
    save_param_menu,
    train_param_menu,
)
from econcs.amm._plots import menu_regions, plot_menu
from econcs.amm._reference import (
    Menu,
    conjectured_menu,
    menu_profit,
    menu_profit_mc,
    separate_prices_menu,
)
from econcs.amm._values import TraderValues, make_values

try:
    __version__ = version("econcs-amm")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "DualParams",
    "DualResult",
    "Menu",
    "MenuNet",
    "MenuNetParams",
    "MenuResult",
    "OneGoodOptimum",
    "ParamMenuNet",
    "ParamMenuParams",
    "ParamMenuResult",
    "TraderValues",
    "conjectured_menu",
    "duality_gap",
    "evaluate_menu",
    "evaluate_param_menu",
    "load_param_menu",
    "make_values",
    "menu_profit",
    "menu_profit_mc",
    "menu_regions",
    "one_good_optimum",
    "one_good_profit",
    "ot_dual",
    "plot_menu",
    "save_param_menu",
    "separate_prices_menu",
    "solve_dual",
    "trade_profit",
    "train_menu",
    "train_param_menu",
]

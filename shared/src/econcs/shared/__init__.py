"""econcs-shared: the foundation every econcs package stands on.

- devices, dtypes and explicit random generators (``econcs.shared.device``);
- argument validation at the public boundary (``econcs.shared.validation``), parameter dataclasses
  declared once (``econcs.shared.params``), the exceptions and warnings of every package
  (``econcs.shared.errors``);
- the training-callback protocol and result history (``econcs.shared.callbacks``), value
  iteration (``econcs.shared.dp``);
- batched tensor utilities and value distributions (``econcs.shared.tensor``,
  ``econcs.shared.distributions``);
- LP / MILP on HiGHS (``econcs.shared.solvers``);
- the augmented Lagrangian and extra-gradient (``econcs.shared.augmented_lagrangian``,
  ``econcs.shared.extragradient``);
- differentiable menus and best-response search (``econcs.shared.menus``);
- the experiment registry and runner behind the ``econcs`` CLI (``econcs.shared.experiments``).
"""

from importlib.metadata import PackageNotFoundError, version

from econcs.shared.ascent import gradient_ascent
from econcs.shared.augmented_lagrangian import (
    ALResult,
    AugmentedLagrangian,
    minimize_augmented_lagrangian,
)
from econcs.shared.callbacks import Callback, StateFn, history_tuple
from econcs.shared.device import (
    cpu_threads,
    make_generator,
    make_rng,
    resolve_device,
    resolve_dtype,
)
from econcs.shared.distributions import (
    Marginal,
    ValueDistribution,
    parse_distribution,
    sample_dirichlet,
)
from econcs.shared.dp import ValueIterationResult, value_iteration
from econcs.shared.errors import ConfigError, ConvergenceWarning, DivergenceError
from econcs.shared.experiments import (
    Experiment,
    ExperimentResult,
    ExperimentSuite,
    Reference,
    Reproduction,
    RunContext,
    RunRecord,
    atomic_torch_save,
    atomic_write,
    config_from_overrides,
    load_suites,
    run_experiment,
)
from econcs.shared.extragradient import ExtraGradient, game_closure
from econcs.shared.menus import (
    BestResponse,
    MenuChoice,
    MenuLayer,
    best_response_search,
    choose_from_menu,
    misreport_gradient,
    misreport_utilities,
)
from econcs.shared.params import Params, apply_renames, nested, param, resolve_params
from econcs.shared.solvers import (
    InfeasibleError,
    LinearModel,
    LPResult,
    SolverError,
    UnboundedError,
    solve_lp,
    solve_milp,
)
from econcs.shared.tensor import project_capped_simplex, project_simplex, softmax_temperature
from econcs.shared.validation import (
    check_array,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_probabilities,
    check_same_length,
    check_tensor,
    check_type,
)

try:
    __version__ = version("econcs-shared")
except PackageNotFoundError:  # run from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "ALResult",
    "AugmentedLagrangian",
    "BestResponse",
    "Callback",
    "ConfigError",
    "ConvergenceWarning",
    "DivergenceError",
    "Experiment",
    "ExperimentResult",
    "ExperimentSuite",
    "ExtraGradient",
    "InfeasibleError",
    "LPResult",
    "LinearModel",
    "Marginal",
    "MenuChoice",
    "MenuLayer",
    "Params",
    "Reference",
    "Reproduction",
    "RunContext",
    "RunRecord",
    "SolverError",
    "StateFn",
    "UnboundedError",
    "ValueDistribution",
    "ValueIterationResult",
    "apply_renames",
    "atomic_torch_save",
    "atomic_write",
    "best_response_search",
    "check_array",
    "check_bool",
    "check_choice",
    "check_float",
    "check_int",
    "check_probabilities",
    "check_same_length",
    "check_tensor",
    "check_type",
    "choose_from_menu",
    "config_from_overrides",
    "cpu_threads",
    "game_closure",
    "gradient_ascent",
    "history_tuple",
    "load_suites",
    "make_generator",
    "make_rng",
    "minimize_augmented_lagrangian",
    "misreport_gradient",
    "misreport_utilities",
    "nested",
    "param",
    "parse_distribution",
    "project_capped_simplex",
    "project_simplex",
    "resolve_device",
    "resolve_dtype",
    "resolve_params",
    "run_experiment",
    "sample_dirichlet",
    "softmax_temperature",
    "solve_lp",
    "solve_milp",
    "value_iteration",
]

"""econcs-decpomdp-diffusion: diffusion models that reconstruct global states from local histories
(Wang, Dong, Jiang, Parkes, Tambe, AAMAS 2025, arXiv 2410.13953).

- finite Dec-POMDPs with exact posteriors by forward filtering (:class:`TabularDecPOMDP`), a sensor
  network and a grid world (:func:`sensor_network`, :func:`grid_world`, :func:`make_env`), as
  PettingZoo ``ParallelEnv`` (:class:`DecPOMDPEnv`), and batched episodes (:class:`Histories`);
- conditional DDPMs of the state given a local history, with a GRU (or MLP) history encoder and the
  deterministic DDIM sampler (:class:`ConditionalDiffusion`, :func:`train_diffusion`), saved as
  safetensors + JSON (:func:`save_model`, :func:`load_model`); the exact (Bayes) denoiser
  (:class:`ExactDiffusion`);
- fixed points of the denoising map with their stability and Jacobian rank
  (:func:`fixed_points`), the surrogate linear regression of the map near the true state and its
  deviation bound (:func:`deviation_bound`);
- single-agent / composite reconstruction (:func:`reconstruct`, :func:`composite_trajectory`),
  the distribution of reconstructed states (:func:`sample_distribution`) and its total variation
  to the exact posterior (:func:`posterior_tv`); the regression baseline
  (:func:`train_regression`); plots in ``econcs.decpomdp_diffusion._plots`` (the ``plot`` extra).
"""

from importlib.metadata import PackageNotFoundError, version

from econcs.decpomdp_diffusion._bound import DeviationBound, deviation_bound
from econcs.decpomdp_diffusion._dec_pomdp import Histories, TabularDecPOMDP, uniform_policy
from econcs.decpomdp_diffusion._diffusion import (
    ConditionalDiffusion,
    DiffusionParams,
    DiffusionResult,
    HistoryEncoder,
    encode_history,
    init_model,
    load_model,
    save_model,
    train_diffusion,
)
from econcs.decpomdp_diffusion._envs import (
    ENVIRONMENTS,
    DecPOMDPEnv,
    grid_world,
    make_env,
    sensor_network,
)
from econcs.decpomdp_diffusion._exact_denoiser import ExactDiffusion
from econcs.decpomdp_diffusion._fixed_points import (
    FixedPoints,
    composite_trajectory,
    denoise_map,
    fixed_points,
    posterior_tv,
    reconstruct,
    sample_distribution,
)
from econcs.decpomdp_diffusion._regression import (
    RegressionParams,
    RegressionResult,
    predict_regression,
    train_regression,
)

try:
    __version__ = version("econcs-decpomdp-diffusion")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "ENVIRONMENTS",
    "ConditionalDiffusion",
    "DecPOMDPEnv",
    "DeviationBound",
    "DiffusionParams",
    "DiffusionResult",
    "ExactDiffusion",
    "FixedPoints",
    "Histories",
    "HistoryEncoder",
    "RegressionParams",
    "RegressionResult",
    "TabularDecPOMDP",
    "composite_trajectory",
    "denoise_map",
    "deviation_bound",
    "encode_history",
    "fixed_points",
    "grid_world",
    "init_model",
    "load_model",
    "make_env",
    "posterior_tv",
    "predict_regression",
    "reconstruct",
    "sample_distribution",
    "save_model",
    "sensor_network",
    "train_diffusion",
    "train_regression",
    "uniform_policy",
]

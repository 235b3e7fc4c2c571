"""econcs-decpomdp-diffusion: diffusion models that reconstruct global states from local histories
(Wang, Dong, Jiang, Parkes, Tambe, AAMAS 2025, arXiv 2410.13953).

- finite Dec-POMDPs with exact posteriors by forward filtering (:class:`TabularDecPOMDP`), a sensor
  network and a grid world (:func:`sensor_network`, :func:`grid_world`, :func:`make_env`), as
  PettingZoo ``ParallelEnv`` (:class:`DecPOMDPEnv`), and batched episodes (:class:`Histories`).
"""

from importlib.metadata import PackageNotFoundError, version

from econcs.decpomdp_diffusion._dec_pomdp import Histories, TabularDecPOMDP, uniform_policy
from econcs.decpomdp_diffusion._envs import (
    ENVIRONMENTS,
    DecPOMDPEnv,
    grid_world,
    make_env,
    sensor_network,
)

try:
    __version__ = version("econcs-decpomdp-diffusion")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"

__all__ = [
    "ENVIRONMENTS",
    "DecPOMDPEnv",
    "Histories",
    "TabularDecPOMDP",
    "grid_world",
    "make_env",
    "sensor_network",
    "uniform_policy",
]

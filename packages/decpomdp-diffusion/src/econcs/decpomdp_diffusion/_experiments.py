"""Experiments of econcs-decpomdp-diffusion for the ``econcs`` CLI (in progress)."""

from econcs.shared import ExperimentSuite

__all__ = ["EXPERIMENTS"]

EXPERIMENTS = ExperimentSuite(package="decpomdp", experiments=[])

"""Experiments of econcs-amm for the ``econcs`` CLI (in progress)."""

from econcs.shared import ExperimentSuite

__all__ = ["EXPERIMENTS"]

EXPERIMENTS = ExperimentSuite(package="amm", experiments=[])

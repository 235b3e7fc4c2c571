"""The exceptions and warnings every econcs package raises: one ground floor, imported by all.

Numerical modules (solvers, trainers, value iteration) import from here, never from the experiment
runner, so that a package's maths does not depend on its command line.

- :class:`ConfigError` -- a bad experiment name, config key or config value (a ``ValueError``; the
  ``econcs`` command exits with status 2 and the message, never a traceback).
- :class:`DivergenceError` -- training produced a NaN or infinite value; the message names the metric
  and the step.
- :class:`ConvergenceWarning` -- an iterative method stopped at ``max_iter`` before its tolerance; the
  result it returns says so too (``converged`` / ``status``).
"""

from __future__ import annotations

__all__ = ["ConfigError", "ConvergenceWarning", "DivergenceError"]


class ConfigError(ValueError):
    """A bad experiment name, config key or config value (the CLI exits with status 2)."""


class DivergenceError(RuntimeError):
    """Training produced a NaN or infinite value; the message says which metric and at which step."""


class ConvergenceWarning(UserWarning):
    """An iterative method reached ``max_iter`` before its tolerance; its result says so too."""

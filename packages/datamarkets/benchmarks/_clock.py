"""The time-to-target clock of the datamarkets benchmarks: training time only, the checks off it.

``TargetClock(device, every, check)`` gives a training callback that, every ``every`` steps,
stops the clock, runs ``check(step)`` (the evaluation; its own time is kept apart) and raises
:class:`Reached` when the check returns true; otherwise the clock runs on.
"""

import time

import torch


class Reached(Exception):
    """Raised by the callback at the first check that meets the target; ``args[0]``: the step."""


class TargetClock:
    def __init__(self, device: str, every: int, check) -> None:
        self.device, self.every, self.check = device, every, check
        self.wall = self.cpu = self.eval = 0.0
        self._t, self._c = time.perf_counter(), time.process_time()

    def callback(self, step, metrics, state_fn) -> None:
        if step % self.every:
            return
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        self.wall += time.perf_counter() - self._t
        self.cpu += time.process_time() - self._c
        t0 = time.perf_counter()
        done = self.check(step)
        self.eval += time.perf_counter() - t0
        if done:
            raise Reached(step)
        self._t, self._c = time.perf_counter(), time.process_time()

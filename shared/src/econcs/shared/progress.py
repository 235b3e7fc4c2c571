"""Progress of a long computation on stderr, readable in a terminal and in a log file.

:func:`stage_progress` gives a tqdm bar when the stream is a terminal, and otherwise (a log
file, a pipe, a process pool's captured stderr) a :class:`StageLines` that writes plain lines
instead of carriage-return redraws: one when the stage has done its first piece of work (with
the time the rest should take, extrapolated from it) and one when it ends (with the time it took).
Both have ``update(n)``, ``close()`` and work as context managers.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from tqdm.auto import tqdm

from econcs.shared.validation import check_int

__all__ = ["StageLines", "stage_progress"]


def _seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 60 else f"{s / 60:.1f} min"


class StageLines:
    """Plain-line progress of one stage of ``total`` units of work (no redraws).

    After the first :meth:`update` that leaves work to do it writes
    ``"<desc>: <done>/<total> <unit> in <t>, about <eta> to go"`` (once, and only when the
    extrapolated rest is at least ``min_eta`` seconds); :meth:`close` writes
    ``"<desc>: <total> <unit> in <t>"``. ``disable=True`` writes nothing.
    """

    def __init__(self, total: int, desc: str, *, unit: str = "it", file: IO[str] | None = None,
                 disable: bool = False, min_eta: float = 1.0) -> None:
        self.total = check_int(total, "total", low=0)
        self.desc, self.unit, self.disable, self.min_eta = desc, unit, disable, float(min_eta)
        self.file = sys.stderr if file is None else file
        self.n = 0
        self._start = time.perf_counter()
        self._estimated = False
        self._closed = False

    def _write(self, line: str) -> None:
        if not self.disable:
            print(line, file=self.file, flush=True)

    def update(self, n: int = 1) -> None:
        """Record ``n`` more units done."""
        self.n += n
        if not self._estimated and 0 < self.n < self.total:
            self._estimated = True
            took = time.perf_counter() - self._start
            eta = took * (self.total - self.n) / self.n
            if eta >= self.min_eta:
                self._write(f"{self.desc}: {self.n}/{self.total} {self.unit} in {_seconds(took)}, "
                            f"about {_seconds(eta)} to go")

    def close(self) -> None:
        """Write the stage's closing line (once)."""
        if not self._closed:
            self._closed = True
            self._write(f"{self.desc}: {self.n} {self.unit} in "
                        f"{_seconds(time.perf_counter() - self._start)}")

    def __enter__(self) -> StageLines:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def stage_progress(total: int, desc: str, *, unit: str = "it", disable: bool = False,
                   file: IO[str] | None = None) -> tqdm | StageLines:
    """Progress of one stage on ``file`` (default stderr): a tqdm bar if it is a terminal, else
    :class:`StageLines` (one line when the first piece is done, with an estimate of the rest,
    and one at the end). ``disable=True`` shows nothing."""
    file = sys.stderr if file is None else file
    isatty = getattr(file, "isatty", None)
    if isatty is not None and isatty():
        return tqdm(total=total, desc=desc, unit=unit, disable=disable, file=file, leave=False,
                    dynamic_ncols=True)
    return StageLines(total, desc, unit=unit, file=file, disable=disable)

"""The ``econcs`` command line: list, show and run experiments, and reproduce the papers.

``econcs list``                      every installed experiment, one line each
``econcs show EXPERIMENT``           its config fields (type, default, help)
``econcs run EXPERIMENT [k=v ...]``  one run; ``--json FILE`` writes the result
``econcs reproduce [--quick|--full]`` every package's curated reproductions, one table and a report

Bad input (unknown experiment, unknown key, bad value, invalid config) exits with status 2 and a
message listing the valid choices, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from econcs.shared.experiments import (
    ConfigError,
    DivergenceError,
    ExperimentSuite,
    RunRecord,
    all_experiments,
    config_from_overrides,
    config_help,
    load_suites,
    run_experiment,
)

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits with 2 already; keep its message short
        self.print_usage(sys.stderr)
        self.exit(2, f"econcs: error: {message}\n")


def _fail(message: str, code: int = 2) -> int:
    print(f"econcs: error: {message}", file=sys.stderr)
    return code


def _format_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _cmd_list(args: argparse.Namespace) -> int:
    suites = load_suites()
    rows = [[e.name, s.package, e.description] for s in suites.values() for e in s.experiments]
    print(_format_table(["experiment", "package", "description"], rows))
    return 0


def _get_experiment(name: str):
    experiments = all_experiments()
    if name not in experiments:
        raise ConfigError(
            f"unknown experiment {name!r}; installed: {', '.join(sorted(experiments)) or 'none'}."
        )
    return experiments[name]


def _cmd_show(args: argparse.Namespace) -> int:
    exp = _get_experiment(args.experiment)
    print(f"{exp.name}: {exp.description}\n")
    print(
        _format_table(
            ["key", "type", "default", "help"], [list(r) for r in config_help(exp.config)]
        )
    )
    return 0


def _print_record(record: RunRecord) -> None:
    rows = []
    for key, value in record.metrics.items():
        ref = record.references.get(key)
        rows.append(
            [
                key,
                _fmt(value),
                ref.describe() if ref else "",
                ref.source if ref else "",
                ("yes" if ref.holds(value) else "NO") if ref else "",
            ]
        )
    print(_format_table(["metric", "value", "reference", "source", "ok"], rows))
    print(f"\n{record.experiment}: {record.seconds:.1f} s, run directory {record.out_dir}")


def _cmd_run(args: argparse.Namespace) -> int:
    exp = _get_experiment(args.experiment)
    config = config_from_overrides(exp.config, args.overrides)
    record = run_experiment(
        exp,
        config,
        seed=args.seed,
        device=args.device,
        out_dir=args.out,
        resume_dir=args.resume,
        quiet=args.quiet,
    )
    if args.json:
        Path(args.json).write_text(json.dumps(record.to_json(), indent=2))
    _print_record(record)
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    suites = load_suites()
    if args.only:
        unknown = sorted(set(args.only) - set(suites))
        if unknown:
            raise ConfigError(
                f"--only: unknown package(s) {unknown}; installed: {', '.join(suites)}."
            )
        suites = {k: v for k, v in suites.items() if k in args.only}
    mode = "full" if args.full else "quick"
    out = (
        Path(args.out)
        if args.out
        else Path("runs") / "reproduce" / datetime.now().strftime("%Y%m%d-%H%M%S")
    )
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    tasks = [
        (suite.package, i)
        for suite in suites.values()
        for i in range(len(suite.full if mode == "full" else suite.quick))
    ]
    jobs = args.jobs or _available_cpus()
    options = (mode, str(out), args.seed, args.device, args.quiet)
    if jobs == 1 or len(tasks) <= 1:
        outcomes = {t: _run_reproduction(*t, *options, suites=suites) for t in tasks}
    else:
        outcomes = _run_in_pool(tasks, options, jobs, args.threads)
    failures = 0
    for package, i in tasks:
        failures += _report_rows(suites[package], mode, i, out, args.seed, outcomes[package, i],
                                 rows)
    headers = ["experiment", "metric", "ours", "reference", "source", "gap", "ok", "seconds"]
    table = [
        [
            r["label"],
            r["metric"],
            _fmt(r["ours"]),
            r["reference"],
            r["source"],
            f"{r['gap']:+.2%}",
            "yes" if r["ok"] else "NO",
            f"{r['seconds']:.1f}",
        ]
        for r in rows
    ]
    text = _format_table(headers, table)
    print(text)
    (out / "report.json").write_text(json.dumps({"mode": mode, "rows": rows}, indent=2))
    md = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    md += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in table]
    (out / "report.md").write_text(f"# econcs reproduce --{mode}\n\n" + "\n".join(md) + "\n")
    total = sum(r["seconds"] for r in {id(r["run"]): r for r in rows}.values())
    print(
        f"\n{len(rows)} rows, {failures} out of tolerance; report in {out}/report.md "
        f"({total:.0f} s of runs)"
    )
    return 1 if failures else 0


def _available_cpus() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return max(os.cpu_count() or 1, 1)


def _run_reproduction(package: str, index: int, mode: str, out: str, seed: int, device: str,
                      quiet: bool, suites: dict[str, ExperimentSuite] | None = None):
    """Run one reproduction row (all its seeds): ``(records, None)`` or ``(None, message)`` when
    training diverged. A process-pool worker calls it with ``suites=None`` (it loads them)."""
    suite = (load_suites() if suites is None else suites)[package]
    rep = (suite.full if mode == "full" else suite.quick)[index]
    exp = {e.name: e for e in suite.experiments}[rep.experiment]
    config = config_from_overrides(exp.config, dict(rep.overrides))
    run_dir = Path(out) / package / f"{index:02d}-{rep.experiment}"
    start = time.perf_counter()
    try:
        records = [
            run_experiment(exp, config, seed=s, device=device, quiet=quiet,
                           out_dir=run_dir if rep.n_seeds == 1 else run_dir / f"seed-{s}")
            for s in range(seed, seed + rep.n_seeds)
        ]
    except DivergenceError as err:
        return None, str(err), time.perf_counter() - start
    return records, None, time.perf_counter() - start


def _init_worker(threads: int) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _run_in_pool(tasks: list[tuple[str, int]], options: tuple, jobs: int, threads: int) -> dict:
    """Run the rows on ``jobs`` worker processes (each on ``threads`` torch threads); every row is
    still one seeded, deterministic run, so the numbers are those of a sequential run."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    outcomes = {}
    ctx = multiprocessing.get_context("spawn")  # torch and HiGHS are not fork-safe
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=(threads,)) as pool:
        futures = {pool.submit(_run_reproduction, *t, *options): t for t in tasks}
        for done, future in enumerate(as_completed(futures), 1):
            package, index = futures[future]
            outcomes[package, index] = future.result()
            print(f"[{package}] row {index} done ({done}/{len(tasks)}, "
                  f"{outcomes[package, index][2]:.1f} s)", file=sys.stderr)
    return outcomes


def _report_rows(suite: ExperimentSuite, mode: str, index: int, out: Path, seed: int,
                 outcome: tuple, rows: list) -> int:
    """Append the report rows of one reproduction; return how many are out of tolerance."""
    rep = (suite.full if mode == "full" else suite.quick)[index]
    run_dir = out / suite.package / f"{index:02d}-{rep.experiment}"
    seeds = range(seed, seed + rep.n_seeds)
    label = rep.label or rep.experiment
    if rep.n_seeds > 1:
        label += f" (mean of seeds {seeds[0]}-{seeds[-1]})"
    records, error, elapsed = outcome
    if records is None:
        rows.append({"label": label, "metric": "(run)", "ours": float("nan"), "reference": "",
                     "source": error, "gap": float("nan"), "ok": False, "seconds": elapsed,
                     "run": str(run_dir)})
        return 1
    failures = 0
    seconds = sum(r.seconds for r in records)
    if not records[0].references:
        rows.append({"label": label, "metric": "(no reference)", "ours": float("nan"),
                     "reference": "", "source": "", "gap": 0.0, "ok": True, "seconds": seconds,
                     "run": str(run_dir)})
    for key in records[0].references:
        values = [r.metrics[key] for r in records]
        ours = sum(values) / len(values)
        # a reference taken from the seed's own problem instance is averaged the same way
        ref_values = [r.references[key].value for r in records]
        ref = dataclasses.replace(records[0].references[key],
                                  value=sum(ref_values) / len(ref_values))
        ok = ref.holds(ours)
        failures += not ok
        source = ref.source
        if rep.n_seeds > 1:
            source += "; per seed: " + " / ".join(_fmt(v) for v in values)
        rows.append({
            "label": label, "metric": key, "ours": ours, "reference": ref.describe(),
            "source": source, "gap": ref.gap(ours), "ok": ok, "seconds": seconds,
            "run": str(run_dir), "per_seed": values,
            "plots": sorted(a if rep.n_seeds == 1 else f"seed-{s}/{a}"
                            for s, r in zip(seeds, records) for a in r.artifacts.values()),
        })
    print(f"[{suite.package}] {label}: {seconds:.1f} s", file=sys.stderr)
    return failures


_THREADS_HELP = (
    "PyTorch CPU threads (default 1: the networks here are small, and intra-op threads on a "
    "shared or small machine slow them down several-fold; 0 keeps PyTorch's default)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="econcs", description="Run and reproduce the econcs experiments.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="list every installed experiment")
    show = sub.add_parser("show", help="show an experiment's config fields")
    show.add_argument("experiment")
    run = sub.add_parser("run", help="run one experiment")
    run.add_argument("experiment")
    run.add_argument("overrides", nargs="*", metavar="key=value", help="config fields to set")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    run.add_argument("--out", default=None, help="run directory (default runs/<experiment>/<time>)")
    run.add_argument("--json", default=None, metavar="FILE", help="write the result as JSON")
    run.add_argument("--resume", default=None, metavar="DIR", help="resume a killed run")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)
    rep = sub.add_parser("reproduce", help="run every package's curated reproductions")
    mode = rep.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="reduced budgets (default)")
    mode.add_argument("--full", action="store_true", help="paper scale")
    rep.add_argument("--only", nargs="+", metavar="PACKAGE", help="only these packages")
    rep.add_argument("--out", default=None, help="report directory")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--device", default="auto")
    rep.add_argument("--quiet", action="store_true")
    rep.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)
    rep.add_argument("--jobs", type=int, default=0,
                     help="rows run at once, each in its own process (default 0: one per CPU "
                     "core; 1: in this process, one after another)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "seed", 0) < 0:
        return _fail(f"--seed: expected a non-negative integer, got {args.seed}.")
    if getattr(args, "jobs", 0) < 0:
        return _fail(f"--jobs: expected a non-negative integer, got {args.jobs}.")
    threads = getattr(args, "threads", 0)
    if threads < 0:
        return _fail(f"--threads: expected a non-negative integer, got {threads}.")
    if threads:
        import torch

        torch.set_num_threads(threads)
    handler = {"list": _cmd_list, "show": _cmd_show, "run": _cmd_run, "reproduce": _cmd_reproduce}[
        args.command
    ]
    try:
        return handler(args)
    except ConfigError as err:
        return _fail(str(err))
    except (ValueError, TypeError) as err:
        return _fail(f"{type(err).__name__}: {err}")
    except DivergenceError as err:
        return _fail(str(err), code=1)
    except KeyboardInterrupt:
        return _fail("interrupted; resume with --resume <run directory>.", code=130)


if __name__ == "__main__":
    sys.exit(main())

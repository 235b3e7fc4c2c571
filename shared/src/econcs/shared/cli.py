"""The ``econcs`` command line: list, show and run experiments, and reproduce the papers.

``econcs list``                      every installed experiment, one line each
``econcs show EXPERIMENT``           its config fields (type, default, help)
``econcs run EXPERIMENT [k=v ...]``  one run; ``--json FILE`` writes the result
``econcs reproduce [--quick|--full|--paper]`` every package's curated reproductions, one table and
                                     a report (``--paper``: the rows beyond an hour on 2 CPU cores)
``econcs sweep EXPERIMENT k=v1,v2 seed=0..4`` a grid of configs x seeds, mean +- SE per point

``reproduce`` and ``sweep`` run on an engine (:mod:`econcs.shared.engines`): ``--engine local`` (a
process pool, one run per core) or ``--engine ray`` (Ray Core tasks, locally or on a cluster), and
finish a killed sweep with ``--resume SWEEP_DIR``.

Bad input (unknown experiment, unknown key, bad value, invalid config) exits with status 2 and a
message listing the valid choices, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from datetime import datetime
from pathlib import Path

from econcs.shared.engines import (
    ENGINES,
    EngineOptions,
    RunSpec,
    available_cpus,
    check_address,
    expand_sweep,
    import_ray,
    parse_axes,
    read_sweep,
    references_of,
    run_specs,
    summarize,
    write_sweep,
)
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


def _engine_options(args: argparse.Namespace) -> EngineOptions:
    """The engine options, checked before anything is written or run (a bad value, an unreachable
    --address, --engine ray without Ray: exit 2)."""
    options = EngineOptions(engine=args.engine, jobs=args.jobs, threads=args.threads,
                            address=args.address, cpus_per_run=args.cpus_per_run,
                            gpus_per_run=args.gpus_per_run, max_retries=args.max_retries)
    if options.engine == "ray":
        check_address(options.address)
        import_ray()
    return options


def _spec_device(device: str, options: EngineOptions) -> str:
    """The device the specs ask for: on Ray without GPUs a run is put on the CPU explicitly (a
    task without a GPU share must not use one of the node's GPUs)."""
    if options.engine == "ray" and options.gpus_per_run == 0:
        if device.startswith("cuda"):
            raise ConfigError(f"--device {device}: on --engine ray give the runs a GPU share "
                              "with --gpus-per-run (e.g. 0.25).")
        if device == "auto":
            return "cpu"
    return device


def _progress(total: int):
    count = [0]

    def on_done(result: dict) -> None:
        count[0] += 1
        status = "skipped (finished)" if result.get("skipped") else result["status"]
        extra = f": {result['error']}" if result["status"] == "failed" else ""
        print(f"[{result['id']}] {status} ({count[0]}/{total}, {result['seconds']:.1f} s){extra}",
              file=sys.stderr, flush=True)

    return on_done


def _sweep_dir(args: argparse.Namespace, *parts: str) -> Path:
    if args.out:
        return Path(args.out)
    return Path(args.runs_root).joinpath(*parts, datetime.now().strftime("%Y%m%d-%H%M%S"))


def _check_resume_alone(args: argparse.Namespace, given: dict[str, bool]) -> None:
    clash = [name for name, is_given in given.items() if is_given]
    if clash:
        raise ConfigError(f"--resume: the sweep directory fixes {', '.join(clash)}; drop them.")


def _reproduction_specs(suites: dict[str, ExperimentSuite], mode: str, out: Path, seed: int,
                        device: str) -> tuple[list[dict], list[RunSpec]]:
    """Every reproduction row as a group of specs (one per seed), each with its run directory
    ``<out>/<package>/<NN>-<experiment>[/seed-S]``; configs are checked here, before any run."""
    groups, specs = [], []
    root = out.resolve()
    for suite in suites.values():
        experiments = {e.name: e for e in suite.experiments}
        for index, rep in enumerate(getattr(suite, mode)):
            config_from_overrides(experiments[rep.experiment].config, dict(rep.overrides))
            name = f"{index:02d}-{rep.experiment}"
            seeds = list(range(seed, seed + rep.n_seeds))
            group = {"package": suite.package, "index": index, "experiment": rep.experiment,
                     "label": rep.label or rep.experiment, "seeds": seeds,
                     "run_dir": str(out / suite.package / name), "specs": []}
            for s in seeds:
                leaf = root / suite.package / name
                sid = f"{suite.package}/{name}"
                if rep.n_seeds > 1:
                    leaf, sid = leaf / f"seed-{s}", f"{sid}/seed-{s}"
                specs.append(RunSpec(sid, rep.experiment, dict(rep.overrides), s, str(leaf), device))
                group["specs"].append(sid)
            groups.append(group)
    return groups, specs


def _cmd_reproduce(args: argparse.Namespace) -> int:
    options = _engine_options(args)
    suites = installed = load_suites()
    if args.resume:
        _check_resume_alone(args, {"--quick/--full/--paper": args.quick or args.full or args.paper,
                                   "--only": bool(args.only), "--out": bool(args.out)})
        out = Path(args.resume)
        meta, specs = read_sweep(out, "reproduce")
        mode, groups = meta["mode"], meta["groups"]
    else:
        if args.only:
            unknown = sorted(set(args.only) - set(suites))
            if unknown:
                raise ConfigError(
                    f"--only: unknown package(s) {unknown}; installed: {', '.join(suites)}."
                )
            suites = {k: v for k, v in suites.items() if k in args.only}
        mode = "full" if args.full else "paper" if args.paper else "quick"
        out = _sweep_dir(args, "reproduce")
        groups, specs = _reproduction_specs(suites, mode, out, args.seed,
                                            _spec_device(args.device, options))
        if not specs:
            having = sorted(k for k, v in installed.items() if getattr(v, mode))
            raise ConfigError(f"--{mode}: no such rows in {', '.join(suites) or 'no package'}; "
                              f"packages with --{mode} rows: {', '.join(having) or 'none'}.")
        write_sweep(out, specs, command="reproduce", mode=mode, seed=args.seed, groups=groups)
    wall = time.perf_counter()
    results = run_specs(specs, options, experiments=all_experiments(suites),
                        on_done=_progress(len(specs)))
    wall = time.perf_counter() - wall
    rows: list[dict] = []
    failures = 0
    for group in groups:
        failures += _report_rows(group, [results[i] for i in group["specs"]], rows)
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
    total = sum(r["seconds"] for r in {r["run"]: r for r in rows}.values())
    print(
        f"\n{len(rows)} rows, {failures} out of tolerance; report in {out}/report.md "
        f"({total:.0f} s of runs, {wall:.0f} s wall on --engine {options.engine})"
    )
    return 1 if failures else 0


def _available_cpus() -> int:
    return available_cpus()


def _report_rows(group: dict, results: list[dict], rows: list) -> int:
    """Append the report rows of one reproduction (its seeds' results); return how many are out
    of tolerance. Tolerances are checked here, on the driver."""
    seeds = group["seeds"]
    label = group["label"]
    if len(seeds) > 1:
        label += f" (mean of seeds {seeds[0]}-{seeds[-1]})"
    run_dir = group["run_dir"]
    failed = [r for r in results if r["status"] != "ok"]
    if failed:
        elapsed = sum(r["seconds"] for r in results if math.isfinite(r["seconds"]))
        rows.append({"label": label, "metric": "(run)", "ours": float("nan"), "reference": "",
                     "source": "; ".join(r["error"] for r in failed), "gap": float("nan"),
                     "ok": False, "seconds": elapsed, "run": run_dir})
        return 1
    failures = 0
    seconds = sum(r["seconds"] for r in results)
    references = [references_of(r) for r in results]
    if not references[0]:
        rows.append({"label": label, "metric": "(no reference)", "ours": float("nan"),
                     "reference": "", "source": "", "gap": 0.0, "ok": True, "seconds": seconds,
                     "run": run_dir})
    for key in references[0]:
        values = [r["metrics"][key] for r in results]
        ours = sum(values) / len(values)
        # a reference taken from the seed's own problem instance is averaged the same way
        ref_values = [refs[key].value for refs in references]
        ref = dataclasses.replace(references[0][key], value=sum(ref_values) / len(ref_values))
        ok = ref.holds(ours)
        failures += not ok
        source = ref.source
        if len(seeds) > 1:
            source += "; per seed: " + " / ".join(_fmt(v) for v in values)
        rows.append({
            "label": label, "metric": key, "ours": ours, "reference": ref.describe(),
            "source": source, "gap": ref.gap(ours), "ok": ok, "seconds": seconds,
            "run": run_dir, "per_seed": values,
            "plots": sorted(a if len(seeds) == 1 else f"seed-{s}/{a}"
                            for s, r in zip(seeds, results) for a in r["artifacts"].values()),
        })
    print(f"[{group['package']}] {label}: {seconds:.1f} s", file=sys.stderr)
    return failures


def _cmd_sweep(args: argparse.Namespace) -> int:
    options = _engine_options(args)
    if args.resume:
        _check_resume_alone(args, {"EXPERIMENT": bool(args.experiment),
                                   "key=values": bool(args.axes), "--out": bool(args.out)})
        out = Path(args.resume)
        meta, specs = read_sweep(out, "sweep")
        exp = _get_experiment(meta["experiment"])
        axes, points = meta["axes"], meta["points"]
    else:
        if not args.experiment:
            raise ConfigError("sweep: name an EXPERIMENT (econcs list shows them) and its axes, "
                              "e.g. econcs sweep shared.extragradient lr=0.1,0.3 seed=0..4.")
        exp = _get_experiment(args.experiment)
        axes, seeds = parse_axes(exp, args.axes)
        out = _sweep_dir(args, "sweep", exp.name)
        points, specs = expand_sweep(exp, axes, seeds, out, _spec_device(args.device, options))
        write_sweep(out, specs, command="sweep", experiment=exp.name, axes=axes, seeds=seeds,
                    points=points)
    wall = time.perf_counter()
    results = run_specs(specs, options, on_done=_progress(len(specs)))
    wall = time.perf_counter() - wall
    by_id = {s.id: s for s in specs}
    keys = list(axes)
    metrics: list[str] = []
    for r in results.values():
        metrics += [m for m in r.get("metrics", {}) if m not in metrics]
    run_rows, summary = [], []
    for point in points:
        point_results = [results[i] for i in point["specs"]]
        for sid, r in zip(point["specs"], point_results):
            refs = references_of(r) if r["status"] == "ok" else {}
            held = sum(ref.holds(r["metrics"][k]) for k, ref in refs.items())
            run_rows.append({"point": point["index"], **point["overrides"], "seed": by_id[sid].seed,
                             "status": r["status"], "error": r.get("error", ""),
                             "metrics": r.get("metrics", {}),
                             "references_held": f"{held}/{len(refs)}" if refs else "",
                             "seconds": r["seconds"], "run_dir": r["run_dir"]})
        ok = [r for r in point_results if r["status"] == "ok"]
        stats = {m: summarize([r["metrics"][m] for r in ok if m in r["metrics"]]) for m in metrics}
        summary.append({"point": point["index"], **point["overrides"], "n": len(ok),
                        "failed": len(point_results) - len(ok),
                        "metrics": {m: {"mean": v[0], "se": v[1], "n": v[2]}
                                    for m, v in stats.items()}})
    table = [[str(r["point"]), *(str(r[k]) for k in keys), str(r["seed"]), r["status"],
              *(_fmt(r["metrics"][m]) if m in r["metrics"] else "" for m in metrics),
              r["references_held"], f"{r['seconds']:.1f}"] for r in run_rows]
    print(_format_table(["point", *keys, "seed", "status", *metrics, "refs held", "seconds"],
                        table))
    for r in run_rows:
        if r["status"] != "ok":
            print(f"point {r['point']} seed {r['seed']} failed: {r['error']}")
    sum_headers = ["point", *keys, "n", *(f"{m} (mean +- SE)" for m in metrics)]
    sum_table = [[str(p["point"]), *(str(p[k]) for k in keys),
                  str(p["n"]) + (f" ({p['failed']} failed)" if p["failed"] else ""),
                  *(_mean_se(p["metrics"][m]) for m in metrics)] for p in summary]
    print("\nsummary over seeds\n" + _format_table(sum_headers, sum_table))
    (out / "results.json").write_text(json.dumps({"runs": run_rows, "summary": summary},
                                                 indent=2))
    md = ["| " + " | ".join(sum_headers) + " |", "|" + "---|" * len(sum_headers)]
    md += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in sum_table]
    (out / "summary.md").write_text(f"# econcs sweep {exp.name}\n\n" + "\n".join(md) + "\n")
    n_failed = sum(r["status"] != "ok" for r in run_rows)
    print(f"\n{len(run_rows)} runs, {n_failed} failed; results in {out}/results.json and "
          f"summary.md ({wall:.0f} s wall on --engine {options.engine})")
    return 1 if n_failed else 0


def _mean_se(stat: dict) -> str:
    if stat["n"] == 0:
        return ""
    if stat["n"] == 1 or not math.isfinite(stat["se"]):
        return _fmt(stat["mean"])
    return f"{_fmt(stat['mean'])} +- {stat['se']:.2g}"


_THREADS_HELP = (
    "PyTorch CPU threads (default 1: the networks here are small, and intra-op threads on a "
    "shared or small machine slow them down several-fold; 0 keeps PyTorch's default)"
)


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", type=int, default=0,
                   help="runs at once, each in its own process (default 0: one per CPU core; 1: "
                   "in this process, one after another); with --engine ray and no --address, the "
                   "CPUs of the local Ray instance")
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help="local: this machine's process pool (default); ray: Ray Core tasks on a "
                   "local Ray instance or the cluster at --address (pip install "
                   "'econcs-shared[ray]')")
    p.add_argument("--address", default=None,
                   help="Ray head host:port (or ray://host:port, auto); default: start a local Ray")
    p.add_argument("--cpus-per-run", type=float, default=1.0, help="Ray CPUs per run (default 1)")
    p.add_argument("--gpus-per-run", type=float, default=0.0,
                   help="Ray GPUs per run, a fraction packs small networks on one GPU (default 0: "
                   "CPU only)")
    p.add_argument("--max-retries", type=int, default=3,
                   help="Ray retries of a run whose worker or node died; it resumes its "
                   "checkpoint (default 3; a Python error is never retried)")
    p.add_argument("--runs-root", default="runs",
                   help="folder the sweep directory is made in (default runs; on a cluster, a "
                   "filesystem every node mounts at the same path)")


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
    mode.add_argument("--full", action="store_true",
                      help="the full rows: paper scale where a row fits an hour on 2 CPU cores, "
                      "a reduced budget with its tolerance stated where it does not")
    mode.add_argument("--paper", action="store_true",
                      help="the paper-scale rows that outgrow that hour (hours to days on a CPU): "
                      "for a GPU (--device cuda) or a Ray cluster (--engine ray)")
    rep.add_argument("--only", nargs="+", metavar="PACKAGE", help="only these packages")
    rep.add_argument("--out", default=None, help="report directory")
    rep.add_argument("--seed", type=int, default=0)
    rep.add_argument("--device", default="auto")
    rep.add_argument("--quiet", action="store_true")
    rep.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)
    _add_engine_args(rep)
    rep.add_argument("--resume", default=None, metavar="SWEEP_DIR",
                     help="finish a killed reproduction: rows with a result.json are skipped, "
                     "the others resume their checkpoints")
    sw = sub.add_parser(
        "sweep", help="run an experiment over a grid of config values and seeds",
        description="Run EXPERIMENT at every combination of the given values, each at every "
        "seed (seed=0..4), one run directory each, and print one row per run and the mean +- "
        "standard error over seeds of every metric per point. Values: key=v1,v2 (commas inside "
        "parentheses stay: dist=uniform(0,1),beta(2,2); a list value in brackets: "
        "hidden=[64,64],[128]), integer ranges key=a..b (both ends included).")
    sw.add_argument("experiment", nargs="?", help="the experiment (econcs list)")
    sw.add_argument("axes", nargs="*", metavar="key=v1,v2|a..b", help="config values; seed=a..b")
    sw.add_argument("--out", default=None,
                    help="sweep directory (default <runs-root>/sweep/<experiment>/<time>)")
    sw.add_argument("--device", default="auto")
    sw.add_argument("--quiet", action="store_true")
    sw.add_argument("--threads", type=int, default=1, help=_THREADS_HELP)
    _add_engine_args(sw)
    sw.add_argument("--resume", default=None, metavar="SWEEP_DIR",
                    help="finish a killed sweep: runs with a result.json are skipped, the others "
                    "resume their checkpoints")
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
    handler = {"list": _cmd_list, "show": _cmd_show, "run": _cmd_run, "reproduce": _cmd_reproduce,
               "sweep": _cmd_sweep}[args.command]
    try:
        return handler(args)
    except ConfigError as err:
        return _fail(str(err))
    except (ValueError, TypeError) as err:
        return _fail(f"{type(err).__name__}: {err}")
    except DivergenceError as err:
        return _fail(str(err), code=1)
    except KeyboardInterrupt:
        return _fail("interrupted; resume with --resume <run or sweep directory>.", code=130)


if __name__ == "__main__":
    sys.exit(main())

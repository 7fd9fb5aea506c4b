"""``comments bench``: the project's benchmarks, in sections, as a table and as JSON.

Each section is a module with a ``SECTION`` (a :class:`Section`) listed in
:data:`SECTION_MODULES`; its ``run`` returns a flat dict of figures (numbers), which the
command prints as a table and, with ``--json``, merges into one JSON object printed last.
A section adds its own options to the command; ``--only`` and ``--skip`` choose sections.

Importing this package is cheap: sections import their heavy dependencies when they run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from comments.bench.model import default_workdir

if TYPE_CHECKING:
    from comments.settings import Settings

Figures = dict[str, float]

#: Modules that define a ``SECTION``, in the order they run.
SECTION_MODULES = (
    "comments.bench.scoring",
    "comments.bench.fanout",
    "comments.bench.reading",
    "comments.bench.ingest",
    "comments.bench.reactions",
    "comments.bench.importing",
    "comments.bench.moderation",
    "comments.bench.gcpause",
    "comments.bench.counts",
)


@dataclass(frozen=True, slots=True)
class Target:
    """A goal for one figure: ``value OP bound``."""

    op: Literal[">=", "<="]
    bound: float
    note: str = ""

    def met(self, value: float) -> bool:
        """Does *value* reach the goal? (NaN never does.)"""
        return value >= self.bound if self.op == ">=" else value <= self.bound

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True, slots=True)
class Context:
    """What every section gets besides its own options.

    Attributes:
        quick: keep the run short (the whole command under five minutes on 2 cores).
        workdir: a cache folder for built models and the like, kept between runs.
        progress: prints a progress line (to stderr, so stdout stays table + JSON).
    """

    quick: bool
    workdir: Path
    progress: Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Section:
    """One benchmark.

    Attributes:
        name: what ``--only`` and ``--skip`` call it.
        summary: one line for ``--help`` and the table.
        run: runs the benchmark; returns figures, keyed by names unique across sections.
        add_arguments: adds the section's own options to the command (optional).
        labels: figure key → what it measures, with its unit, for the table.
        targets: figure key → the goal it is held to.
        judged: are this run's figures held to the targets? (Not, say, on a toy model.)
    """

    name: str
    summary: str
    run: Callable[[argparse.Namespace, Context], Figures]
    add_arguments: Callable[[argparse._ArgumentGroup], None] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    targets: Mapping[str, Target] = field(default_factory=dict)
    judged: Callable[[argparse.Namespace], bool] = lambda args: True

    def targets_for(self, args: argparse.Namespace) -> Mapping[str, Target]:
        """The targets that apply to this run."""
        return self.targets if self.judged(args) else {}


def sections() -> dict[str, Section]:
    """Every registered section by name, in run order."""
    found: dict[str, Section] = {}
    for module_name in SECTION_MODULES:
        section = importlib.import_module(module_name).SECTION
        if not isinstance(section, Section):
            raise TypeError(f"{module_name}.SECTION is not a Section")
        found[section.name] = section
    return found


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``bench`` on the ``comments`` command's sub-parsers."""
    known = sections()
    bench = subparsers.add_parser(
        "bench",
        help="run the benchmarks and print their figures",
        description="Run the benchmarks and print their figures as a table; with --json, "
        "also one JSON object (every figure, the machine, the targets met) as the last "
        "line. Models are built locally in the work dir: nothing is downloaded.",
    )
    bench.add_argument(
        "--quick", action="store_true", help="a shorter run (under five minutes on 2 cores)"
    )
    bench.add_argument("--json", action="store_true", help="print one JSON object last")
    bench.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SECTION",
        help=f"run only this section (repeatable; sections: {', '.join(known)})",
    )
    bench.add_argument(
        "--skip", action="append", default=[], metavar="SECTION", help="skip this section"
    )
    bench.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help=f"cache for built models, kept between runs (default {default_workdir()})",
    )
    for section in known.values():
        if section.add_arguments is not None:
            section.add_arguments(bench.add_argument_group(section.name, section.summary))
    bench.set_defaults(func=run, bench_parser=bench)
    result: argparse.ArgumentParser = bench
    return result


def run(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """The ``comments bench`` command: 0 when every chosen section ran, else 1."""
    known = sections()
    for name in [*args.only, *args.skip]:
        if name not in known:
            args.bench_parser.error(f"unknown section {name!r}; sections: {', '.join(known)}")
    chosen = [
        section
        for name, section in known.items()
        if (not args.only or name in args.only) and name not in args.skip
    ]
    if not chosen:
        args.bench_parser.error("no section left to run")
    workdir: Path = args.workdir or default_workdir()
    workdir.mkdir(parents=True, exist_ok=True)

    def progress(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    context = Context(quick=args.quick, workdir=workdir, progress=progress)
    load_before = os.getloadavg()[0]
    cpu_before = _cpu_seconds()
    results: dict[str, Figures] = {}
    failed: list[str] = []
    for section in chosen:
        progress(f"{section.name}: {section.summary}")
        started = time.monotonic()
        try:
            results[section.name] = section.run(args, context)
        except Exception:
            failed.append(section.name)
            print(f"comments bench: section {section.name} failed:", file=sys.stderr)
            traceback.print_exc()
            continue
        progress(f"{section.name}: done in {time.monotonic() - started:.0f}s")
    machine = machine_info(load_before, os.getloadavg()[0])
    machine["other_cpu_cores"] = _other_cpu(cpu_before, _cpu_seconds())
    targets = {section.name: section.targets_for(args) for section in chosen}
    print(format_table(chosen, results, targets, machine, quick=args.quick))
    if args.json:
        report = as_json(chosen, results, targets, machine, quick=args.quick, failed=failed)
        print(json.dumps(report))
    return 1 if failed else 0


@dataclass(frozen=True, slots=True)
class _CpuSeconds:
    wall: float
    machine_busy: float | None  # every process's CPU time, from /proc/stat
    ours: float  # this process's and its waited-for children's


def _cpu_seconds() -> _CpuSeconds:
    busy: float | None = None
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]
        # user nice system idle iowait irq softirq steal: all but idle and iowait.
        busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    times = os.times()
    ours = times.user + times.system + times.children_user + times.children_system
    return _CpuSeconds(time.monotonic(), busy, ours)


def _other_cpu(before: _CpuSeconds, after: _CpuSeconds) -> float | None:
    """Cores other processes kept busy, on average, while the benchmark ran."""
    wall = after.wall - before.wall
    if before.machine_busy is None or after.machine_busy is None or wall <= 0:
        return None
    others = (after.machine_busy - before.machine_busy) - (after.ours - before.ours)
    return round(max(0.0, others) / wall, 2)


def machine_info(load_before: float, load_after: float) -> dict[str, Any]:
    """Where the figures came from: cores, CPU, library versions, load around the run."""
    info: dict[str, Any] = {
        "cores": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "load_before": round(load_before, 2),
        "load_after": round(load_after, 2),
    }
    for package in ("torch", "onnxruntime", "transformers"):
        module = sys.modules.get(package)
        if module is not None:
            info[package] = str(getattr(module, "__version__", "?"))
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def format_table(
    chosen: list[Section],
    results: Mapping[str, Figures],
    targets: Mapping[str, Mapping[str, Target]],
    machine: Mapping[str, Any],
    *,
    quick: bool,
) -> str:
    """The human-readable report: one block per section, one line per figure."""
    versions = ", ".join(f"{p} {machine[p]}" for p in ("torch", "onnxruntime") if p in machine)
    lines = [
        f"comments bench{' --quick' if quick else ''}: {machine['cores']} cores "
        f"({machine['cpu']}){', ' + versions if versions else ''}; "
        f"load average {machine['load_before']} before, {machine['load_after']} after",
    ]
    others = machine.get("other_cpu_cores")
    if others is not None:
        lines.append(f"other processes kept {others} cores busy on average during the run")
        busy = others > 0.2
    else:  # no /proc/stat: the load average includes the benchmark itself
        busy = machine["load_before"] > 0.5 * machine["cores"]
    if busy:
        lines.append("note: the machine was busy with other work; timings may be disturbed")
    for section in chosen:
        lines.append("")
        figures = results.get(section.name)
        if figures is None:
            lines.append(f"{section.name}: FAILED (see the error above)")
            continue
        lines.append(f"{section.name}: {section.summary}")
        width = max((len(k) for k in figures), default=0)
        for key, value in figures.items():
            line = f"  {key:<{width}}  {_number(value):>10}  {section.labels.get(key, '')}"
            target = targets[section.name].get(key)
            if target is not None:
                line += f"  [target {target}: {'met' if target.met(value) else 'MISSED'}]"
            lines.append(line.rstrip())
    return "\n".join(lines)


def as_json(
    chosen: list[Section],
    results: Mapping[str, Figures],
    targets: Mapping[str, Mapping[str, Target]],
    machine: Mapping[str, Any],
    *,
    quick: bool,
    failed: list[str],
) -> dict[str, Any]:
    """Every figure at the top level, plus ``machine``, ``targets`` and what ran."""
    merged: dict[str, Any] = {}
    judged: dict[str, Any] = {}
    for section in chosen:
        for key, value in results.get(section.name, {}).items():
            merged[key] = value if math.isfinite(value) else None  # JSON has no NaN
            target = targets[section.name].get(key)
            if target is not None:
                judged[key] = {"target": str(target), "met": target.met(value)}
    return {
        **merged,
        "targets": judged,
        "sections": [s.name for s in chosen if s.name in results],
        "failed": failed,
        "quick": quick,
        "machine": dict(machine),
    }


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.3g}"


def main(argv: list[str] | None = None) -> int:
    """``python -m comments.bench``: the same as ``comments bench``."""
    parser = argparse.ArgumentParser(prog="comments")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    return run(args)

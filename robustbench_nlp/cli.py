"""Command line: ``robustbench-nlp list | run | plan | report (alias leaderboard) | resources``.

Bad input ends with one line on stderr (``error: ...``) and exit status 2; an interrupted run says
how to resume and exits 130. ``--help``, ``list``, ``report`` and every error in a suite, the
command line or a task's data files answer without importing torch, transformers or textattack:
plugins are listed and checked from their registration records (``core/registry.py``), and the
heavy modules are imported only once there is work to do.

``run`` and ``list`` execute third-party code: every ``*.py`` given to ``--include`` (a file or
each file of a folder) and every module of the ``robustbench_nlp.plugins`` entry-point
group of the installed packages is imported, that is, run.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from robustbench_nlp.core.errors import UserError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robustbench-nlp",
        description="Train robustness recipes, attack them, and render leaderboards.",
        epilog="run and list execute plugin code: the files given to --include and the "
        "modules of every installed package's 'robustbench_nlp.plugins' entry points are "
        "imported (run) first. Include only code you trust.",
    )
    include = argparse.ArgumentParser(add_help=False)
    include.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="PATH",
        help="Load plugins from a .py file or a folder of them (repeatable). This executes "
        "the file, or every *.py in the folder, as Python code; installed entry points "
        "(group robustbench_nlp.plugins) are imported too.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser(
        "list",
        parents=[include],
        help="List registered plugins (imports --include files and entry points).",
    )
    listing.add_argument("kind", nargs="?", choices=["recipes", "attacks", "tasks"])
    listing.add_argument("name", nargs="?", help="One plugin: its parameters and defaults.")

    suite_options = argparse.ArgumentParser(add_help=False)
    suite_options.add_argument("suite", type=Path, help="A suite YAML file (see suites/).")
    suite_options.add_argument(
        "--data-dir",
        default=None,
        help="Data folder in the layout of ../shared/data (default $RBNLP_DATA_DIR).",
    )
    suite_options.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Override a suite field, e.g. --set seeds=[0,1] (repeatable).",
    )
    suite_options.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="DIR",
        help="Results folder (relative to the working directory), instead of the suite's.",
    )

    run = commands.add_parser(
        "run",
        parents=[include, suite_options],
        help="Run a suite and render its board (imports --include files and entry points).",
    )
    run.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="Where the cells run: this process (default), or Ray tasks (a local Ray instance, "
        "or the cluster at --ray-address / the suite's ray.address).",
    )
    run.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDRESS",
        help="A running Ray cluster for --executor ray (e.g. auto, or ray://head:10001).",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="Run even if the results folder belongs to another suite: its manifest becomes "
        "this suite's (the records stay).",
    )

    commands.add_parser(
        "plan",
        parents=[include, suite_options],
        help="List a suite's cells, what is finished, and how long the rest will take here "
        "(calibrates each recipe briefly; writes nothing).",
    )

    board = commands.add_parser(
        "report",
        aliases=["leaderboard"],
        help="Render a results folder's board (Markdown, CSV, JSON, HTML page, figures); "
        "runs nothing. 'leaderboard' is the same command.",
    )
    board.add_argument("results", type=Path, help="A results folder (holds suite.json).")
    board.add_argument(
        "--out",
        type=Path,
        default=None,
        help="Output path without suffix (default: beside RESULTS); the figures go to "
        "<out>-figures/.",
    )

    resources = commands.add_parser(
        "resources", help="Build or check the offline resources of the word-level attacks."
    )
    resources.add_argument("action", choices=["prepare", "check"])
    resources.add_argument(
        "--data-dir",
        default=None,
        help="Data folder with lexicon/ and stsb/ (default $RBNLP_DATA_DIR).",
    )
    resources.add_argument("--force", action="store_true", help="Rebuild what already exists.")
    resources.add_argument(
        "--without-data",
        action="store_true",
        help="No data folder: build only stopwords and WordNet (enough for DeepWordBug).",
    )
    resources.add_argument(
        "--mlm",
        action="store_true",
        help="Also train the masked-LM head on MiniLM for BAE / BERT-Attack (mlm: prepared; "
        "about 9 min on 2 cores).",
    )
    return parser


def _load_includes(paths: list[str]) -> None:
    from robustbench_nlp.core.registry import include
    from robustbench_nlp.run.plugins import load_plugins

    load_plugins()
    for path in paths:
        include(path)


def _list(kind: str | None, name: str | None) -> None:
    from robustbench_nlp.run.plugins import REGISTRIES

    if name is not None:
        _show(REGISTRIES[kind or "recipes"], name)
        return
    for registry_name, registry in REGISTRIES.items():
        if kind not in (None, registry_name):
            continue
        print(f"{registry_name}:")
        width = max(len(n) for n in registry.names())
        for plugin, description in registry.describe():
            print(f"  {plugin:<{width}}  {description}")


def _show(registry, name: str) -> None:
    """One plugin: its description, then a row per parameter (type, default, bounds, doc)."""
    import json

    from robustbench_nlp.core.registry import REQUIRED

    info = registry.info(name)
    print(f"{registry.kind} {name}: {info.description}")
    rows = []
    for p in info.params:
        default = "(required)" if p.default is REQUIRED else json.dumps(p.default)
        bounds = ", ".join(f"{k}={v}" for k, v in p.bounds)
        rows.append((p.name, p.type, default, bounds, p.doc))
    if not rows:
        print("  (no parameters)")
        return
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print(("  " + "  ".join([*cells, row[4]])).rstrip())


def _load_suite(args: argparse.Namespace):
    """The suite of ``run`` / ``plan``, its data folder and its task's loaded data.

    Everything decidable without plugin code (and the task's data: task modules import no
    torch) is checked before the recipes and attacks are imported."""
    from robustbench_nlp.run.suite import build_suite, build_task, check_suite
    from robustbench_nlp.tasks.base import resolve_data_dir

    config = check_suite(args.suite, args.overrides)
    data_dir = resolve_data_dir(args.data_dir)
    task = build_task(config, args.suite)
    data = task.load(data_dir)
    suite = build_suite(config, args.suite, task)
    if args.output is not None:
        suite = dataclasses.replace(suite, output_override=args.output)
    return suite, data_dir, data


def _run(args: argparse.Namespace) -> int:
    if args.ray_address is not None and args.executor != "ray":
        raise UserError("--ray-address needs --executor ray.")
    suite, data_dir, data = _load_suite(args)

    from robustbench_nlp.report.leaderboard import write_report
    from robustbench_nlp.run.runner import Runner

    runner = Runner(
        suite,
        data_dir,
        force=args.force,
        data=data,
        executor=args.executor,
        ray_address=args.ray_address,
    )
    summary = runner.run()
    written = write_report(suite.output)
    print(
        f"{suite.config.name}: {len(summary.computed)} cells computed, {len(summary.reused)} "
        f"reused, {len(summary.failed)} failed; leaderboard: {written[0]}, page: {written[3]}"
    )
    if summary.failed:
        print(
            f"failed cells are recorded with their error in {suite.output}/records; "
            "rerun to retry them",
            file=sys.stderr,
        )
        return 1
    return 0


def _plan(args: argparse.Namespace) -> int:
    suite, data_dir, data = _load_suite(args)

    from robustbench_nlp.run.estimate import estimate, render_plan
    from robustbench_nlp.run.runner import pick_device

    print(render_plan(estimate(suite, data_dir, data, pick_device(suite.config.device))), end="")
    return 0


def _report(args: argparse.Namespace) -> int:
    """``report`` and its alias ``leaderboard``: render a results folder, run nothing."""
    from robustbench_nlp.report.leaderboard import write_report

    if not args.results.is_dir():
        raise UserError(f"{args.results}: no such results folder.")
    for path in write_report(args.results, args.out):
        print(path)
    return 0


def _resources(args: argparse.Namespace) -> int:
    from robustbench_nlp.resources import layout as resources
    from robustbench_nlp.resources.prepare import prepare
    from robustbench_nlp.tasks.base import resolve_data_dir

    if args.without_data and args.data_dir:
        raise UserError("--without-data and --data-dir contradict each other; pick one.")
    if args.action == "prepare":
        data_dir = None if args.without_data else resolve_data_dir(args.data_dir)
        prepare(data_dir, force=args.force, with_data=not args.without_data, with_mlm=args.mlm)
    rows = resources.check()
    for row in rows:
        print(f"{'ok' if row.ok else 'MISSING':<8} {row.name:<17} {row.detail}")
    excused = resources.OPTIONAL_RESOURCES + (resources.DATA_RESOURCES if args.without_data else ())
    if not all(row.ok or row.name in excused for row in rows):
        print(f"run `{resources.PREPARE}` to build the missing resources", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in ("report", "leaderboard"):
            return _report(args)
        if args.command == "resources":
            return _resources(args)
        _load_includes(args.include)
        if args.command == "list":
            _list(args.kind, args.name)
        elif args.command == "run":
            return _run(args)
        elif args.command == "plan":
            return _plan(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted: finished cells are saved; run the same command to resume.",
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

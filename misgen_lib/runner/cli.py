"""The pipeline's commands of ``misgen`` (``build``, ``run``, ``verify``, ``params``, ``record``,
``reference``, ``compare``); the entry point that dispatches to them (and to the science layers'
commands) is ``misgen_lib.cli``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

from ..vocabulary import CELL_TIMEOUT_ENV, PROFILES, SCHEDULER_ENV
from .parameters import Choices, ParameterError, describe, parse_cli_value
from .profiles import NotebookSpecError
from .reference import ReferenceFileError


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=None,
                        help="repository root holding _config.yml, notebooks/ and book/ (default: "
                             "the current directory if it has _config.yml, else the library's checkout)")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--profile", default="default", choices=PROFILES,
                       help="parameter set: ci (tests), default (the book on a CPU), paper (full scale)")
        p.add_argument("--force", action="store_true", help="execute even if the key is unchanged")
        p.add_argument("--no-render", action="store_true", help="execute only, do not render the book")
        p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                       help=f"train on a Dask cluster (e.g. tcp://host:8786; sets ${SCHEDULER_ENV}; needs "
                            "the dask extra); default: local worker processes, one per free core")
        p.add_argument("--cell-timeout", metavar="SECONDS", default=None,
                       help=f"stop a cell that runs longer (0: no limit; default: ${CELL_TIMEOUT_ENV}, "
                            "else 600 at ci, 10800 at default, 43200 at paper)")

    build = sub.add_parser("build", help="execute every notebook whose key changed, render the book")
    build.add_argument("--parallel", type=_at_least_one, default=1, metavar="N",
                       help="run up to N notebooks side by side (each once the notebooks it depends on "
                            "are done), their work on one shared pool of workers, one per core "
                            "(default 1: one after another)")
    common(build)
    run = sub.add_parser("run", help="re-execute one notebook with parameter overrides, re-render")
    run.add_argument("notebook", help="stem (02_misgeneralization), number (02) or path")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                     metavar=("NAME", "VALUE"), help="override a parameter (repeatable)")
    common(run)
    verify = sub.add_parser("verify", help="re-execute built chapters and check that they state the same "
                                           "results (nbval: the cells tagged nbval-check-output, the claim verdicts)")
    verify.add_argument("notebook", nargs="*", help="stems, numbers or paths (default: every executed chapter)")
    params = sub.add_parser("params", help="list the parameters of a notebook (or of all)")
    params.add_argument("notebook", nargs="?")
    record = sub.add_parser("record", help="write the last build's run record (or --list them)")
    record.add_argument("--list", action="store_true", help="print every run record as a table, newest first")
    record.add_argument("--note", help="what a reader should know about this run (required to write one)")
    record.add_argument("--as", dest="recorded_command", default="misgen build", metavar="COMMAND",
                        help='the command that ran the build (default: "misgen build"; e.g. "make book")')
    record.add_argument("--cache", choices=("cold", "warm"), help="whether the artifact cache was empty")
    record.add_argument("--wall-s", type=float, metavar="SECONDS",
                        help="the measured wall time (default: the chapters' span, without install and rendering)")
    record.add_argument("--peak-memory-gib", type=float, metavar="GIB", help="the measured peak memory")
    reference = sub.add_parser("reference", help="write the built book's reference record")
    reference.add_argument("--profile", default="default", choices=PROFILES, help="the profile of the build")
    reference.add_argument("--output", type=Path, default=None,
                           help="file to write (default: book/reference.json, or book/reference-PROFILE.json)")
    compare = sub.add_parser("compare", help="compare the built chapters with the reference")
    compare.add_argument("--chapters", nargs="+", metavar="NOTEBOOK", default=None,
                         help="stems or numbers (default: every chapter built at the profile)")
    compare.add_argument("--profile", default="default", choices=PROFILES, help="the profile of the build")
    compare.add_argument("--reference", type=Path, default=None,
                         help="reference file (default: the profile's, book/reference.json for default)")
    compare.add_argument("--all", action="store_true", help="list every value, not only those that are not equal")
    sub.add_parser("predict", help="kernel prediction before training (arguments: misgen predict --help)")
    return parser


def _at_least_one(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value!r}")
    return n


def _project(root: Path | None):
    from .project import Project
    if root is None and (Path.cwd() / "_config.yml").exists() and (Path.cwd() / "notebooks").is_dir():
        root = Path.cwd()
    return Project(root) if root is not None else Project()


def _print_params(project, name: str | None, sizes: Callable[[str], str] | None) -> None:
    from .profiles import discover, find
    specs = discover(project.notebooks_dir)
    for spec in [find(specs, name)] if name else specs:
        print(f"{spec.stem}:\n{describe(spec.parameters)}")
        for profile in PROFILES:
            print(f"  [{profile}] {spec.profiles[profile] or '(defaults)'}")
        suites = sizes(spec.source) if sizes else ""
        if suites:
            print(suites)


def _record(project, args) -> None:
    from .records import RecordError, load_records, record_from_build, records_table, write_record
    if args.list:
        print(records_table(load_records(project.records_dir)))
        return
    if not args.note:
        raise RecordError("a run record needs --note: what a reader should know about this run")
    record = record_from_build(project, args.recorded_command, args.note, cache=args.cache,
                               wall_s=args.wall_s, peak_memory_gib=args.peak_memory_gib)
    print(f"run record written: {write_record(project.records_dir, record)}")


def main(argv: list[str] | None = None, prog: str = "misgen", description: str | None = None,
         choices: Callable[[], dict[str, Choices]] | None = None,
         sizes: Callable[[str], str] | None = None) -> int:
    """Run a pipeline command; ``misgen_lib.cli.main`` routes ``predict`` elsewhere first and
    passes what the pipeline cannot import itself: ``choices()``, the valid values of parameters
    that name the library's registered things (checked before ``run`` starts a kernel), and
    ``sizes(source)``, the suite sizes a chapter's source selects (shown by ``params``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser(prog, description or __doc__).parse_args(argv)
    from .build import build, run_one
    from .execute import NotebookFailed, NotebookInterrupted
    from .lock import BuildLocked
    from .records import RecordError
    from .render import BookRenderFailed
    progress = True   # the library's bars, live on a terminal, a line a minute in a log (runner.live)
    if getattr(args, "scheduler", None):   # the notebooks' kernels inherit it (misgen_lib.jobs)
        os.environ[SCHEDULER_ENV] = args.scheduler
    try:
        project = _project(args.root)
        if args.command == "build":
            build(project, profile=args.profile, force=args.force, render=not args.no_render,
                  progress=progress, cell_timeout_s=args.cell_timeout, parallel=args.parallel)
        elif args.command == "run":
            overrides = {}
            for name, value in args.parameter:
                overrides[name] = parse_cli_value(value)
            run_one(args.notebook, overrides, project, profile=args.profile, force=args.force,
                    render=not args.no_render, progress=progress, cell_timeout_s=args.cell_timeout,
                    choices=choices() if choices and overrides else None)
        elif args.command == "verify":
            from .verify import verify
            if not all(v.same for v in verify(project, args.notebook)):
                return 1
        elif args.command == "params":
            _print_params(project, args.notebook, sizes)
        elif args.command == "record":
            _record(project, args)
        elif args.command == "reference":
            from .compare import write_reference
            print(f"misgen: wrote {write_reference(project, args.profile, args.output)}")
        elif args.command == "compare":
            from .compare import compare_build
            comparison = compare_build(project, args.profile, args.chapters, args.reference)
            print(comparison.report(args.all))
            return 1 if comparison.failed else 0
    except (ParameterError, NotebookSpecError, RecordError, ReferenceFileError) as err:
        print(f"misgen: error: {err}", file=sys.stderr)
        return 2
    except NotebookInterrupted as err:
        print(f"misgen: interrupted: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("misgen: interrupted (Ctrl-C); the run manifest records what finished", file=sys.stderr)
        return 130
    except (NotebookFailed, BookRenderFailed, BuildLocked) as err:
        print(f"misgen: {err}", file=sys.stderr)
        return 1
    return 0

"""The ``paramcount`` command: parse arguments, call one library function, render, and be the error boundary.

Exit codes: 0 ok, 1 verification failed, 2 usage error, 3 unreadable or malformed target, 4 unsafe target.
Errors print one line on stderr; ``PARAMCOUNT_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import TYPE_CHECKING, NoReturn

from paramcount import __version__
from paramcount.errors import ParamcountError, UsageError
from paramcount.limits import LIMITS
from paramcount.render import FORMATS
from paramcount.sources import looks_like_spec

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]

_TARGET_HELP = (
    "the model: 'package.module:callable(args)' or 'package.module:attribute', "
    "e.g. 'torch.nn:Linear(784, 10)' or 'transformers:GPT2LMHeadModel(transformers:GPT2Config())'"
)
# Text formats are read by people and default to a shallow tree; machine formats default to every module.
_DEFAULT_DEPTH = {"table": 2, "markdown": 2, "json": None, "csv": None}


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit 2 through the error boundary."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, fix=f"see '{self.prog} --help'")


def _depth(text: str) -> int | str:
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a depth >= 0 or 'all', got {text!r}")
    return value


def _parser() -> _Parser:
    parser = _Parser(prog="paramcount", description="Count and verify the parameters of PyTorch models, exactly.")
    parser.add_argument("--version", action="version", version=f"paramcount {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("target", metavar="TARGET", help=_TARGET_HELP)
        sub.add_argument(
            "--depth",
            type=_depth,
            default=None,
            help="module tree depth: a number or 'all' (default: 2 for table and markdown, all for json and csv)",
        )
        sub.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
        sub.add_argument(
            "--limit",
            action="append",
            default=[],
            metavar="NAME=N",
            help="raise (or lower) a file-reading limit, e.g. --limit pickle-bytes=1GiB; repeatable; "
            f"names: {', '.join(LIMITS)}",
        )
        sub.add_argument(
            "--device",
            default="meta",
            help="device to build TARGET on: 'meta' (default, no memory) or 'cpu' for constructors that need data",
        )

    count = commands.add_parser("count", help="count parameters and print a report")
    common(count)
    verify = commands.add_parser("verify", help="count parameters and exit 1 unless they match the expectation")
    common(verify)
    verify.add_argument("--expect", metavar="N", help="expected total parameters: 7850, 7,850, 124.4M, 6.74B, 1.2e9")
    verify.add_argument("--expect-trainable", metavar="N", help="expected trainable parameters")
    verify.add_argument("--expect-frozen", metavar="N", help="expected frozen parameters")
    verify.add_argument("--expect-buffers", metavar="N", help="expected buffer elements")
    verify.add_argument(
        "--tolerance",
        metavar="T",
        help="allowed difference: a count (1000, 1K) or a percentage (0.5%%); "
        "default: the precision the expectation is written with (124.4M means \u00b150,000)",
    )
    return parser


def _run(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    depth = _DEFAULT_DEPTH[args.format] if args.depth is None else None if args.depth == "all" else args.depth

    import paramcount
    from paramcount.limits import parse_limits
    from paramcount.numbers import exact
    from paramcount.render import render

    limits = parse_limits(args.limit)  # an unknown name or a bad value is a usage error before anything is read
    if looks_like_spec(args.target.strip()) and os.environ.get("PARAMCOUNT_DEBUG") != "1":
        from paramcount.sources.spec import preflight

        preflight(args.target.strip())  # a misspelt package fails before torch is imported
        _quiet_libraries()  # only where a model is built: reading a file imports neither torch nor logging

    if args.command == "count":
        report = paramcount.count(args.target, depth=depth, device=args.device, limits=limits)
        _write(render(report, args.format))
        return 0

    expected = {
        name: value
        for name, value in (
            ("total", args.expect),
            ("trainable", args.expect_trainable),
            ("frozen", args.expect_frozen),
            ("buffers", args.expect_buffers),
        )
        if value is not None
    }
    if not expected:
        raise UsageError(
            "verify needs an expectation",
            fix="add --expect N (or --expect-trainable, --expect-frozen, --expect-buffers)",
        )
    tolerance = args.tolerance
    if tolerance is not None and tolerance.strip().lstrip("0123456789_").strip() == "":
        tolerance = int(tolerance.replace("_", ""))
    report = paramcount.verify(
        args.target, expected, tolerance=tolerance, depth=depth, device=args.device, limits=limits
    )
    if args.format == "table":
        checked = ", ".join(f"{name} {value}" for name, value in expected.items())
        total = report.parameters.total
        shown = "unknown" if total is None else exact(total)
        _write(f"ok: {report.target}: {shown} parameters (expected {checked})\n")
    else:
        _write(render(report, args.format))
    return 0


def _write(text: str) -> None:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`paramcount count ... | head`): not an error of ours. Keep Python's own flush at
        # exit from raising again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _quiet_libraries() -> None:
    """Keep libraries' import-time log lines (torch, torchao, transformers) off the terminal; errors still show.

    A model built from a TARGET imports whatever the user's code imports; their WARNING-level chatter ("Failed to
    load ... .so", deprecation notices) is not the answer the user asked for. Only the command line does this; the
    Python API leaves logging alone. ``PARAMCOUNT_DEBUG=1`` shows everything.
    """
    import logging

    with contextlib.suppress(ImportError):
        import torch  # noqa: F401 -- torch configures its loggers on import; set their levels after that
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setLevel(logging.ERROR)
        root.addHandler(handler)
    for name in ("torch", "torchao", "transformers", "bitsandbytes"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    Args:
        argv: arguments without the program name; ``None`` reads ``sys.argv``.
    """
    try:
        return _run(argv)
    except ParamcountError as e:
        if os.environ.get("PARAMCOUNT_DEBUG") == "1":
            raise
        print(f"paramcount: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("paramcount: interrupted", file=sys.stderr)
        return 130

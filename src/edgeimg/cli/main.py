"""Entry point of the ``edgeimg`` console script.

Each subcommand lives in its own module ``edgeimg.cli.<name>`` with ``add_parser(subparsers)``;
the parser's ``run`` default takes the argparse namespace and returns an exit code. Library code
below the CLI never sees the namespace: subcommands convert it to typed arguments.

``-v``/``-q`` are accepted before and after the verb (every subcommand's parser is built with
them, by :class:`CommandParser`). ``-q`` shows only warnings and errors: the log level is
WARNING and what commands print on standard error (banners, progress bars) is dropped, while
standard output (data such as JSON lines) is kept; commands skip their closing summary.

SIGINT, SIGTERM and SIGHUP end a command alike (see :mod:`edgeimg.runtime.signals`): outputs
are finished or, when none was started, nothing is left behind; the exit code is
128 + the signal (130, 143, 129).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from edgeimg import __version__

# the verbs; each is the module edgeimg.cli.<verb with "-" as "_">
COMMANDS = (
    "train", "export", "quantize", "track", "predict", "stylize", "generate", "evaluate", "bench",
    "info", "triton-repo", "serve",
)  # fmt: skip

log = logging.getLogger("edgeimg")


def add_verbosity(parser: argparse.ArgumentParser, top: bool) -> None:
    """``-v``/``-q``. Before the verb they set ``verbose``/``quiet``; after it ``sub_verbose``/
    ``sub_quiet`` (argparse would let a subcommand's defaults overwrite the values given before
    the verb), which :func:`verbosity` adds up."""
    prefix = "" if top else "sub_"
    group = parser.add_argument_group("output") if not top else parser
    options = group.add_mutually_exclusive_group()
    # after the verb no default: a nested subcommand (train TASK) must not reset the value
    options.add_argument(
        "-v",
        "--verbose",
        dest=f"{prefix}verbose",
        action="count",
        default=0 if top else argparse.SUPPRESS,
        help="more log output (-vv: debug)",
    )
    options.add_argument(
        "-q",
        "--quiet",
        dest=f"{prefix}quiet",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="only warnings and errors: no banner, progress or summary",
    )


class CommandParser(argparse.ArgumentParser):
    """The parser of a subcommand (and of its own subcommands): it has ``-v``/``-q`` too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        add_verbosity(self, top=False)


def verbosity(args: argparse.Namespace) -> tuple[int, bool]:
    """(verbose count, quiet) from the options before and after the verb; sets both on
    ``args`` (``args.verbose``, ``args.quiet``) for the commands to read."""
    verbose = args.verbose + getattr(args, "sub_verbose", 0)
    quiet = args.quiet or getattr(args, "sub_quiet", False)
    if verbose and quiet:
        raise SystemExit(_usage_error(args, "-q/--quiet and -v/--verbose exclude each other"))
    args.verbose, args.quiet = verbose, quiet
    return verbose, quiet


def _usage_error(args: argparse.Namespace, message: str) -> int:
    print(f"edgeimg {args.command}: error: {message}", file=sys.stderr)
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeimg",
        description="Train Keras image models, export them to ONNX, and run them in real time "
        "on edge devices.",
        epilog="Run 'edgeimg COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"edgeimg {__version__}")
    add_verbosity(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for name in COMMANDS:
        importlib.import_module(f"edgeimg.cli.{name.replace('-', '_')}").add_parser(sub)
    return parser


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    logging.basicConfig(
        level=level, format="%(message)s" if verbose == 0 else "%(levelname)s %(name)s: %(message)s"
    )
    logging.captureWarnings(True)  # Python warnings reach the log (and survive -q)
    if verbose < 2:
        # Third-party chatter (TensorFlow, tf2onnx) stays out of the user's way.
        for noisy in ("tensorflow", "tf2onnx", "absl", "h5py", "matplotlib", "PIL"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def quiet_stderr(quiet: bool) -> Iterator[TextIO]:
    """Yield the real standard error; with ``quiet``, ``sys.stderr`` drops what is written to it
    inside the block (banners, progress bars). The log handlers keep the real stream."""
    real = sys.stderr
    if not quiet:
        yield real
        return
    with open(os.devnull, "w") as dropped, contextlib.redirect_stderr(dropped):
        yield real


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        verbose, quiet = verbosity(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    setup_logging(verbose, quiet)
    from edgeimg.runtime.signals import Interrupted, raise_on_stop_signals, signal_name

    with quiet_stderr(quiet) as stderr:
        try:
            with raise_on_stop_signals():
                return int(args.run(args) or 0)
        except KeyboardInterrupt as exc:
            code = exc.exit_code if isinstance(exc, Interrupted) else 130
            print(f"edgeimg {args.command}: stopped by {signal_name(code - 128)}", file=stderr)
            return code
        except Exception as exc:
            return report_error(args, exc, stderr)


# top-level modules of the optional extras: a command missing one says what to install (exit 3)
EXTRAS = {
    **dict.fromkeys(
        ("tensorflow", "keras", "tf2onnx", "onnx", "onnxconverter_common", "onnxslim"), "train"
    ),
    **dict.fromkeys(("pycocotools", "tqdm", "scipy"), "train"),
    **dict.fromkeys(("motmetrics", "trackeval"), "eval"),
    **dict.fromkeys(("ai_edge_litert", "trackers", "supervision", "matplotlib", "psutil"), "bench"),
    "pytriton": "serve",
}


def report_error(args: argparse.Namespace, exc: Exception, stderr: TextIO) -> int:
    """The exit code of a command that raised ``exc``, after one line on ``stderr``."""
    from edgeimg.runtime.errors import EdgeimgError

    if isinstance(exc, EdgeimgError):
        print(f"edgeimg {args.command}: error: {exc}", file=stderr)
        return exc.exit_code
    if isinstance(exc, BrokenPipeError):  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    missing = exc.name.split(".")[0] if isinstance(exc, ModuleNotFoundError) and exc.name else ""
    if missing in EXTRAS:
        extra = EXTRAS[missing]
        where = "the workstation extra" if extra == "train" else f"the {extra} extra"
        print(
            f"edgeimg {args.command}: error: needs {missing}, which comes with {where}: "
            f"pip install 'edgeimg[{extra}]'",
            file=stderr,
        )
        return 3
    # a bug: one line for the user, the traceback with -v
    if args.verbose:
        log.error("internal error", exc_info=exc)
    print(
        f"edgeimg {args.command}: internal error: {type(exc).__name__}: {exc} "
        "(run with -v for the traceback)",
        file=stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""Entry point of the ``edgeimg`` console script.

Each subcommand lives in its own module ``edgeimg.cli.<name>`` with ``add_parser(subparsers)``;
the parser's ``run`` default takes the argparse namespace and returns an exit code. Library code
below the CLI never sees the namespace: subcommands convert it to typed arguments.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from edgeimg import __version__

COMMANDS = ("train", "export", "quantize", "track", "predict", "evaluate", "bench", "info")

log = logging.getLogger("edgeimg")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgeimg",
        description="Train Keras image models, export them to ONNX, and run them in real time "
        "on edge devices.",
        epilog="Run 'edgeimg COMMAND --help' for the options of each command.",
    )
    parser.add_argument("--version", action="version", version=f"edgeimg {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)"
    )
    verbosity.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"edgeimg.cli.{name}").add_parser(sub)
    return parser


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    logging.basicConfig(
        level=level, format="%(message)s" if verbose == 0 else "%(levelname)s %(name)s: %(message)s"
    )
    if verbose < 2:
        # Third-party chatter (TensorFlow, tf2onnx) stays out of the user's way.
        for noisy in ("tensorflow", "tf2onnx", "absl", "h5py", "matplotlib", "PIL"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    setup_logging(args.verbose, args.quiet)
    from edgeimg.runtime.errors import EdgeimgError

    try:
        return int(args.run(args) or 0)
    except EdgeimgError as exc:
        print(f"edgeimg {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"edgeimg {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in ("tensorflow", "keras", "tf2onnx", "onnx"):
            print(
                f"edgeimg {args.command}: error: needs {exc.name}, which comes with the workstation "
                "extra: pip install 'edgeimg[train]'",
                file=sys.stderr,
            )
            return 3
        raise_or_report(args, exc)
        return 1
    except Exception as exc:  # a bug: one line for the user, the traceback with -v
        raise_or_report(args, exc)
        return 1


def raise_or_report(args: argparse.Namespace, exc: BaseException) -> None:
    if args.verbose:
        log.exception("internal error")
    print(
        f"edgeimg {args.command}: internal error: {type(exc).__name__}: {exc} "
        "(run with -v for the traceback)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    sys.exit(main())

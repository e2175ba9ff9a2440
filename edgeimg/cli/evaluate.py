"""`edgeimg evaluate`: not implemented yet."""

from __future__ import annotations

import argparse

from edgeimg.runtime.errors import EdgeimgError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "evaluate", help="(not implemented yet)", description="(not implemented yet)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    raise EdgeimgError("'edgeimg evaluate' is not implemented yet")

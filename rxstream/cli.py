"""The ``rxstream`` command: one subcommand per module, each registered below."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    from .commands import register_offline

    parser = argparse.ArgumentParser(
        prog="rxstream", description="Stream live trading data through reactive pipelines."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register_offline(subparsers)
    from .processes import register as register_serve
    register_serve(subparsers)
    from .testing.command import register as register_sim
    register_sim(subparsers)
    from .ibkr.command import register as register_record
    register_record(subparsers)
    from .backtest.command import register as register_backtest
    register_backtest(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rxstream`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:  # `rxstream replay ... | head`: the reader left, so do we
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())

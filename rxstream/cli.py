"""The ``rxstream`` command: one subcommand per module, each registered below."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .errors import RxstreamError  # no other import here: Ctrl-C at once must find main() running

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
    """Entry point of the ``rxstream`` console script; returns the exit status.

    What a user can cause ends in one line on stderr, never a traceback: a
    configuration or usage mistake (an :class:`~rxstream.errors.RxstreamError`,
    or a file that cannot be opened) exits 2, another operating-system failure 1;
    Ctrl-C before a command is up exits 130; a reader that leaves a pipe
    (``rxstream replay ... | head``) ends the command quietly.
    """
    words = [word for word in (sys.argv[1:] if argv is None else argv) if not word.startswith("-")]
    command = f"rxstream {words[0]}" if words else "rxstream"  # known before the parser is even built
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left, so do we
        from .shutdown import reader_left

        reader_left()
        return 0
    except RxstreamError as error:
        print(f"{command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.filename is not None:  # a path the user named cannot be read or written
            print(f"{command}: error: {error.filename}: {error.strerror or error}", file=sys.stderr)
            return 2
        print(f"{command}: error: {error.strerror or error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Paper trading over recorded sessions: the pipelines' signals traded at the replayed quotes.

::

    result = run_backtest("session.jsonl.gz", pipelines=["signals"], quantity=20_000,
                          commission=Commission.parse("0.2bp"))
    write_report(result, "backtest-out")   # fills.jsonl, summary.json, report.html

The command line is ``rxstream backtest FILE`` (see ``docs/backtest.md``).
"""

from .broker import Commission, PaperBroker, Position
from .report import summary, write_report
from .simulation import BacktestResult, run_backtest

__all__ = ["BacktestResult", "Commission", "PaperBroker", "Position", "run_backtest", "summary", "write_report"]

"""The broker adapter imports in any state of the caller's event loop."""

from __future__ import annotations

import subprocess
import sys


def test_the_ibkr_adapter_imports_after_asyncio_run_has_ended() -> None:
    """``asyncio.run()`` leaves no current loop; the broker library's ``eventkit`` used to fail to import then."""
    script = (
        "import asyncio\n"
        "async def main():\n"
        "    await asyncio.sleep(0)\n"
        "asyncio.run(main())\n"
        "import rxstream.ibkr.source\n"
        "print(rxstream.ibkr.source.IBKRFeed.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "IBKRFeed"

"""Which broker library the feed uses: the one installed, ib_insync or ib_async, never both required."""

from __future__ import annotations

import configparser
import importlib.util
import subprocess
import sys
from pathlib import Path

from rxstream.ibkr import api

ROOT = Path(__file__).resolve().parent.parent


def test_the_library_in_use_is_the_one_installed() -> None:
    installed = [name for name in ("ib_insync", "ib_async") if importlib.util.find_spec(name) is not None]
    assert installed == [api.NAME], "exactly one broker library per environment"
    module = sys.modules[api.NAME]
    assert api.IB.__module__.startswith(api.NAME) and api.LIBRARY == f"{api.NAME} {module.__version__}"


def test_without_a_broker_library_the_feed_says_what_to_install() -> None:
    script = (
        "import sys\n"
        "sys.modules['ib_insync'] = sys.modules['ib_async'] = None  # neither importable\n"
        "import rxstream.ibkr, rxstream.testing  # config, symbols and the simulator need no library\n"
        "from rxstream.errors import BrokerLibraryMissing\n"
        "try:\n"
        "    rxstream.ibkr.IBKRFeed\n"
        "except BrokerLibraryMissing as error:\n"
        "    assert isinstance(error, ImportError)\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "rxstream[ib_insync]" in done.stdout and "rxstream[ib_async]" in done.stdout


def test_each_library_is_an_extra_and_neither_is_required() -> None:
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    requires = setup["options"]["install_requires"]
    assert "ib_insync" not in requires and "ib_async" not in requires
    extras = setup["options.extras_require"]
    assert extras["ib_insync"].split() == ["ib_insync==0.9.86"]
    assert extras["ib_async"].split() == ["ib_async>=2.1,<3"]
    makefile = (ROOT / "Makefile").read_text()
    assert "-e '.[ib_insync]'" in makefile and "-e '.[test,ib_insync]'" in makefile
    assert "-e '.[test,ib_async]'" in makefile

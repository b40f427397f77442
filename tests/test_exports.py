"""The public API is what ``__all__`` says, and every name in it exists."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import rxstream

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(rxstream.__path__, "rxstream.")
    if not name.rsplit(".", 1)[-1].startswith("_") and "builtin_pipelines" not in name
)


@pytest.mark.parametrize("name", MODULES)
def test_every_public_module_curates_all(name: str) -> None:
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} has no __all__"
    for export in module.__all__:
        assert hasattr(module, export), f"{name}.__all__ lists {export!r}, which does not exist"


def test_the_package_exports_its_public_face() -> None:
    public = {n for n in dir(rxstream) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(rxstream, n)).__name__ == "module"}
    assert set(rxstream.__all__) == public - modules


def test_every_error_class_is_on_the_public_face() -> None:
    from rxstream import errors

    assert set(errors.__all__) <= set(rxstream.__all__)


def test_the_command_line_starts_without_loading_the_engine() -> None:
    """``rxstream.cli`` imports next to nothing, so Ctrl-C at once finds ``main()`` running."""
    import subprocess
    import sys

    probe = (
        "import sys, rxstream.cli; "
        "print(sorted(m for m in sys.modules if m.startswith(('rxstream', 'reactivex', 'asyncio'))))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['rxstream', 'rxstream.cli', 'rxstream.errors']"

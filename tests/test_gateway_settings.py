"""Settings: defaults, flags, RXSTREAM_* variables and a real TOML file, with errors naming the setting."""

from __future__ import annotations

import argparse
import doctest
import json

import pytest

import rxstream.gateway.app
import rxstream.gateway.auth
import rxstream.settings
from rxstream.errors import ConfigError
from rxstream.settings import Settings


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    Settings.add_arguments(parser)
    return parser.parse_args(argv)


def test_defaults_follow_design() -> None:
    s = Settings()
    assert (s.host, s.port, s.max_connections, s.ping_interval) == ("127.0.0.1", 8080, 100, 30.0)


def test_precedence_flag_over_env_over_toml(tmp_path) -> None:
    config = tmp_path / "rxstream.toml"
    config.write_text('max_connections = 7\nping_interval = 10\nallowed_origins = ["https://a"]\n'
                      "[rxstream]\nreplay_speed = 4\n")
    env = {"RXSTREAM_PING_INTERVAL": "12", "RXSTREAM_QUEUE_LIMIT": "50"}
    s = Settings.load(parse(["--config", str(config), "--queue-limit", "60"]), env=env)
    assert (s.max_connections, s.ping_interval, s.queue_limit, s.replay_speed) == (7, 12.0, 60, 4.0)
    assert s.allowed_origins == ("https://a",)


def test_every_setting_has_a_flag_an_env_var_and_a_toml_entry(tmp_path) -> None:
    flags = parse([])
    lines = []
    for name, f in Settings.__dataclass_fields__.items():
        assert hasattr(flags, name)
        if f.default is not None:
            value = list(f.default) if isinstance(f.default, tuple) else f.default
            lines.append(f"{name} = {json.dumps(value)}")
    (tmp_path / "all.toml").write_text("\n".join(lines) + "\n")
    assert Settings.load(env={}, config=tmp_path / "all.toml") == Settings()
    for name, f in Settings.__dataclass_fields__.items():
        default = f.default
        if default is None:
            continue
        text = ",".join(default) if isinstance(default, tuple) else str(default)
        assert getattr(Settings.load(env={f"RXSTREAM_{name.upper()}": text}), name) == default, name


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"RXSTREAM_MAX_CONNECTIONS": "many"}, "max_connections"),
        ({"RXSTREAM_MAX_CONNECTIONS": "0"}, "max_connections"),
        ({"RXSTREAM_PORT": "70000"}, "port"),
        ({"RXSTREAM_REPLAY_SPEED": "-1"}, "replay_speed"),
        ({"RXSTREAM_REPLAY_LOOP": "maybe"}, "replay_loop"),
        ({"RXSTREAM_LOG_LEVEL": "LOUD"}, "log_level"),
        ({"RXSTREAM_IBKR": "nohost"}, "ibkr"),
    ],
)
def test_bad_settings_name_the_setting(env: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load(env=env)
    assert info.value.setting == setting and setting in str(info.value)


def test_bad_toml_names_the_setting(tmp_path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('ping_interval = "often"\n')
    with pytest.raises(ConfigError, match="ping_interval") as info:
        Settings.load(env={}, config=config)
    assert str(config) in str(info.value)
    config.write_text("colour = 3\n")
    with pytest.raises(ConfigError, match="colour"):
        Settings.load(env={}, config=config)
    with pytest.raises(ConfigError, match="config"):
        Settings.load(env={}, config=tmp_path / "missing.toml")


def test_public_view_hides_the_secret() -> None:
    public = Settings(auth_secret="hunter2-hunter2-hunter2-hunter2!").public()
    assert "hunter2" not in repr(public) and public["auth_enabled"] is True


@pytest.mark.parametrize("module", [rxstream.settings, rxstream.gateway.auth, rxstream.gateway.app])
def test_docstring_examples(module) -> None:
    assert doctest.testmod(module).failed == 0

"""Settings: overrides over environment over rota.toml over defaults, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rota.errors import InvalidInput
from rota.settings import Settings, load_settings


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rota.toml"
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    loaded = load_settings(environ={"ROTA_CONFIG": str(tmp_path / "absent.toml")})
    assert loaded == Settings.model_validate({})
    assert (loaded.db, loaded.port, loaded.queues) == ("rota.db", 8077, ["default"])


def test_precedence(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path, 'db = "from-toml.db"\nport = 1000\nhost = "0.0.0.0"\nconcurrency = 9\n'
    )
    environ = {"ROTA_PORT": "2000", "ROTA_HOST": "10.0.0.1"}
    settings = load_settings({"port": 3000, "db": None}, environ=environ, config_path=config)
    assert settings.port == 3000  # override beats environ and file
    assert settings.host == "10.0.0.1"  # environ beats file
    assert settings.db == "from-toml.db"  # a None override falls through
    assert settings.concurrency == 9  # file beats default
    assert settings.lease_s == 30.0  # default


def test_config_file_named_in_the_environment(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "lease_s = 12.5\n")
    settings = load_settings(environ={"ROTA_CONFIG": str(config)})
    assert settings.lease_s == 12.5


def test_comma_lists(tmp_path: Path) -> None:
    environ = {
        "ROTA_CONFIG": str(tmp_path / "absent.toml"),
        "ROTA_QUEUES": "mail, video,,default ",
        "ROTA_SERVER": "http://a:1,http://b:2",
    }
    settings = load_settings({"tags": "gpu,device:kitchen"}, environ=environ)
    assert settings.queues == ["mail", "video", "default"]
    assert settings.server == ["http://a:1", "http://b:2"]
    assert settings.tags == ["gpu", "device:kitchen"]


def test_environment_booleans_and_numbers(tmp_path: Path) -> None:
    environ = {
        "ROTA_CONFIG": str(tmp_path / "absent.toml"),
        "ROTA_STRICT_TASKS": "false",
        "ROTA_LEASE_S": "2.5",
        "UNRELATED": "x",
        "ROTA_NOT_A_SETTING": "ignored",
    }
    settings = load_settings(environ=environ)
    assert settings.strict_tasks is False and settings.lease_s == 2.5


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"port": 70000}, "port"),
        ({"lease_s": 0}, "lease_s"),
        ({"dispatch_policy": "random"}, "dispatch_policy"),
        ({"concurrency": "many"}, "concurrency"),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
)
def test_bad_values_name_the_field(
    tmp_path: Path, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput, match=field):
        load_settings(overrides, environ={"ROTA_CONFIG": str(tmp_path / "absent.toml")})


def test_bad_environment_value_names_the_field(tmp_path: Path) -> None:
    environ = {"ROTA_CONFIG": str(tmp_path / "absent.toml"), "ROTA_HEARTBEAT_S": "soon"}
    with pytest.raises(InvalidInput, match="heartbeat_s"):
        load_settings(environ=environ)


def test_bad_toml_is_invalid_input(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "port = \n")
    with pytest.raises(InvalidInput, match=r"rota\.toml"):
        load_settings(environ={}, config_path=config)


def test_unknown_key_in_toml_is_refused(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "colour = 'blue'\n")
    with pytest.raises(InvalidInput, match="colour"):
        load_settings(environ={}, config_path=config)


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        load_settings(environ={}, config_path=tmp_path / "missing.toml")


def test_settings_are_frozen() -> None:
    settings = Settings.model_validate({})
    with pytest.raises(Exception, match="frozen"):
        settings.port = 1


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"name": "a b"}, "name: "),
        ({"name": "w\udcff"}, "name: "),
        ({"name": "x" * 201}, "name: "),
        ({"queues": ""}, "queues: name at least one queue"),
        ({"queues": "ok,has space"}, "queues: queue 'has space' "),
        ({"queues": "q\udcff"}, "queues: queue "),
        ({"tags": "t\udcff"}, "tags: "),
        ({"tags": "t" * 201}, "tags: "),
    ],
)
def test_a_worker_name_queue_or_tag_the_server_would_refuse_is_refused_at_once(
    tmp_path: Path, overrides: dict[str, str], words: str
) -> None:
    # The worker used to start, and reconnect for ever to a server refusing its hello.
    with pytest.raises(InvalidInput, match=r"^invalid settings: ") as caught:
        load_settings(overrides, environ={"ROTA_CONFIG": str(tmp_path / "absent.toml")})
    assert words in caught.value.message


def test_worker_names_queues_and_tags_as_the_server_takes_them(tmp_path: Path) -> None:
    settings = load_settings(
        {"name": "host-1.example:7@x", "queues": "default, fast.lane", "tags": "device:kitchen"},
        environ={"ROTA_CONFIG": str(tmp_path / "absent.toml")},
    )
    assert (settings.name, settings.queues, settings.tags) == (
        "host-1.example:7@x",
        ["default", "fast.lane"],
        ["device:kitchen"],
    )

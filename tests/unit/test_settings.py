"""Settings: overrides over environment over rota.toml over defaults, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from rota.errors import InvalidInput
from rota.settings import (
    KEYS,
    SECTIONS,
    Origin,
    Settings,
    load_settings,
    load_settings_with_origins,
    settings_of,
)


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rota.toml"
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    loaded = load_settings(environ={"ROTA_CONFIG": str(tmp_path / "absent.toml")})
    assert loaded == Settings.model_validate({})
    assert (loaded.store.db, loaded.server.port, loaded.worker.queues) == (
        "rota.db",
        8077,
        ["default"],
    )


def test_precedence(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path, 'db = "from-toml.db"\nport = 1000\nhost = "0.0.0.0"\nconcurrency = 9\n'
    )
    environ = {"ROTA_PORT": "2000", "ROTA_HOST": "10.0.0.1"}
    settings = load_settings({"port": 3000, "db": None}, environ=environ, config_path=config)
    assert settings.server.port == 3000  # override beats environ and file
    assert settings.server.host == "10.0.0.1"  # environ beats file
    assert settings.store.db == "from-toml.db"  # a None override falls through
    assert settings.worker.concurrency == 9  # file beats default
    assert settings.server.lease_s == 30.0  # default


def test_an_empty_variable_counts_as_unset(tmp_path: Path) -> None:
    # Compose files and shells often leave a variable empty (`ROTA_PORT=`).
    config = write_toml(tmp_path, "port = 1000\n")
    environ = {"ROTA_PORT": "", "ROTA_SERVER__HOST": " ", "ROTA_CONCURRENCY": ""}
    settings = load_settings(environ=environ, config_path=config)
    assert settings.server.port == 1000
    assert settings.server.host == "127.0.0.1"
    assert settings.worker.concurrency == 4


def test_config_file_named_in_the_environment(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "lease_s = 12.5\n")
    settings = load_settings(environ={"ROTA_CONFIG": str(config)})
    assert settings.server.lease_s == 12.5


def test_comma_lists(tmp_path: Path) -> None:
    environ = {
        "ROTA_CONFIG": str(tmp_path / "absent.toml"),
        "ROTA_QUEUES": "mail, video,,default ",
        "ROTA_SERVER": "http://a:1,http://b:2",
    }
    settings = load_settings({"tags": "gpu,device:kitchen"}, environ=environ)
    assert settings.worker.queues == ["mail", "video", "default"]
    assert settings.worker.server == ["http://a:1", "http://b:2"]
    assert settings.worker.tags == ["gpu", "device:kitchen"]


def test_environment_booleans_and_numbers(tmp_path: Path) -> None:
    environ = {
        "ROTA_CONFIG": str(tmp_path / "absent.toml"),
        "ROTA_STRICT_TASKS": "false",
        "ROTA_LEASE_S": "2.5",
        "UNRELATED": "x",
        "ROTA_NOT_A_SETTING": "ignored",
    }
    settings = load_settings(environ=environ)
    assert settings.server.strict_tasks is False and settings.server.lease_s == 2.5


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"port": 70000}, "port"),
        ({"lease_s": 0}, "lease_s"),
        ({"dispatch_policy": "random"}, "dispatch_policy"),
        ({"durability": "none"}, "durability"),
        ({"concurrency": "many"}, "concurrency"),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
)
def test_bad_values_name_the_field(
    tmp_path: Path, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput, match=field):
        load_settings(overrides, environ={"ROTA_CONFIG": str(tmp_path / "absent.toml")})


def test_durability_is_full_unless_relaxed_on_purpose(tmp_path: Path) -> None:
    absent = str(tmp_path / "absent.toml")
    assert load_settings(environ={"ROTA_CONFIG": absent}).store.durability == "full"
    environ = {"ROTA_CONFIG": absent, "ROTA_DURABILITY": "relaxed"}
    assert load_settings(environ=environ).store.durability == "relaxed"


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
        settings.server.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"name": "a b"}, "name: "),
        ({"name": "w\udcff"}, "name: "),
        ({"name": "x" * 201}, "name: "),
        ({"name": "w1\n"}, "name: "),  # `$` matches before a final newline; fullmatch
        ({"queues": ""}, "queues: name at least one queue"),
        ({"queues": ["ok", "q\n"]}, "queues: queue "),
        ({"queues": "ok,has space"}, "queues: queue 'has space' "),
        ({"queues": "q\udcff"}, "queues: queue "),
        ({"tags": "t\udcff"}, "tags: "),
        ({"tags": "t" * 201}, "tags: "),
        ({"concurrency": 9000, "prefetch": 1001}, "concurrency + prefetch is 10001"),
    ],
)
def test_a_worker_name_queue_or_tag_the_server_would_refuse_is_refused_at_once(
    tmp_path: Path, overrides: dict[str, object], words: str
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
    assert (settings.worker.name, settings.worker.queues, settings.worker.tags) == (
        "host-1.example:7@x",
        ["default", "fast.lane"],
        ["device:kitchen"],
    )


def test_sections_in_toml_and_their_origins(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path,
        '[server]\nport = 1000\nlease_s = 9\n[store]\ndb = "x.db"\n'
        '[worker]\nserver = "http://a:1,http://b:2"\nconcurrency = 3\n',
    )
    environ = {"ROTA_LEASE_S": "7", "ROTA_WORKER__CONCURRENCY": "5"}
    loaded = load_settings_with_origins(
        {"port": 2000}, environ=environ, config_path=config, flags={"port": "--port"}
    )
    settings = loaded.settings
    assert settings.server.port == 2000 and settings.server.lease_s == 7.0
    assert settings.store.db == "x.db" and settings.worker.concurrency == 5
    assert settings.worker.server == ["http://a:1", "http://b:2"]
    assert loaded.config_file == config
    assert loaded.origins["server.port"] == Origin(kind="flag", where="--port")
    assert loaded.origins["server.lease_s"] == Origin(kind="env", where="ROTA_LEASE_S")
    assert loaded.origins["worker.concurrency"] == Origin(
        kind="env", where="ROTA_WORKER__CONCURRENCY"
    )
    assert loaded.origins["store.db"] == Origin(kind="file", where=str(config))
    assert loaded.origins["server.host"] == Origin(kind="default")
    assert set(loaded.origins) == {f"{KEYS[key]}.{key}" for key in KEYS}


def test_the_sectioned_variable_wins_over_the_short_one(tmp_path: Path) -> None:
    environ = {
        "ROTA_CONFIG": str(tmp_path / "absent.toml"),
        "ROTA_SERVER__LEASE_S": "3",
        "ROTA_LEASE_S": "4",
    }
    assert load_settings(environ=environ).server.lease_s == 3.0


def test_flat_and_sectioned_keys_mean_the_same_setting(tmp_path: Path) -> None:
    flat = settings_of({"lease_s": 4, "db": "a.db"})
    sectioned = settings_of({"server.lease_s": 4, "store.db": "a.db"})
    assert flat == sectioned and flat.server.lease_s == 4.0


def test_every_key_is_in_exactly_one_section() -> None:
    counted = [key for model in SECTIONS.values() for key in model.model_fields]
    assert len(counted) == len(set(counted)) == len(KEYS)
    assert list(SECTIONS) == ["server", "worker", "store", "tls", "auth", "device"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[server]\ncolour = 1\n", "unknown setting 'colour' in [server]"),
        (
            "[worker]\nlease_s = 1\n",
            "unknown setting 'lease_s' in [worker]: it belongs in [server]",
        ),
        ("[nowhere]\nport = 1\n", "unknown setting 'nowhere'"),
    ],
)
def test_a_misplaced_key_names_the_file_and_the_key(tmp_path: Path, text: str, words: str) -> None:
    config = write_toml(tmp_path, text)
    with pytest.raises(InvalidInput) as caught:
        load_settings(environ={}, config_path=config)
    assert caught.value.message.startswith(f"{config}: ")
    assert words in caught.value.message


def test_a_bad_value_in_a_file_names_the_key_and_the_file(tmp_path: Path) -> None:
    config = write_toml(tmp_path, "[server]\nport = 99999\n")
    with pytest.raises(InvalidInput) as caught:
        load_settings(environ={}, config_path=config)
    assert caught.value.message.startswith("invalid settings: server.port: ")
    assert caught.value.message.endswith(f"(from {config})")


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    environ = {"ROTA_CONFIG": str(tmp_path / "absent.toml"), "ROTA_WORKER__CONCURRENCY": "0"}
    with pytest.raises(
        InvalidInput, match=r"worker\.concurrency: .*\(from ROTA_WORKER__CONCURRENCY\)"
    ):
        load_settings(environ=environ)


def test_an_unknown_sectioned_variable_is_refused(tmp_path: Path) -> None:
    environ = {"ROTA_CONFIG": str(tmp_path / "absent.toml"), "ROTA_SERVER__CONCURRENCY": "2"}
    with pytest.raises(InvalidInput, match=r"^ROTA_SERVER__CONCURRENCY: .*belongs in \[worker\]"):
        load_settings(environ=environ)


def test_tls_needs_both_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="tls: give both certfile and keyfile"):
        settings_of({"certfile": str(tmp_path / "cert.pem")})
    both = settings_of({"certfile": "c.pem", "keyfile": "k.pem"})
    assert both.tls.enabled and not settings_of({}).tls.enabled


def test_a_section_wide_problem_names_where_its_keys_came_from(tmp_path: Path) -> None:
    config = write_toml(tmp_path, '[tls]\ncertfile = "cert.pem"\n')
    with pytest.raises(InvalidInput) as caught:
        load_settings(environ={}, config_path=config)
    message = caught.value.message
    assert message.startswith("invalid settings: tls: give both certfile and keyfile")
    assert message.endswith(f"(from {config})")

"""Configuration is validated at start, with one clear line per wrong value."""

from __future__ import annotations

import pytest

from telecase.settings import SettingsError, load_settings


def test_defaults_and_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/telecase")
    monkeypatch.setenv("TELECASE_TELEGRAM_BOT_TOKEN", "123456:ABC-def")
    settings = load_settings()
    assert settings.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert settings.database_url == "postgresql://db/telecase"
    assert settings.bot_id == 123456
    assert "ABC" not in repr(settings)  # secrets never print


def test_every_wrong_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELECASE_TELEGRAM_BOT_TOKEN", "not-a-token")
    monkeypatch.setenv("TELECASE_WEBHOOK_PORT", "70000")
    monkeypatch.setenv("TELECASE_TELEGRAM_MODE", "carrier-pigeon")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    for name in ("TELECASE_TELEGRAM_BOT_TOKEN", "TELECASE_WEBHOOK_PORT",
                 "TELECASE_TELEGRAM_MODE"):
        assert name in message
    assert "not-a-token" not in message


def test_webhook_mode_requires_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELECASE_TELEGRAM_WEBHOOK_SECRET", raising=False)
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        load_settings().require_webhook_secret()


def test_a_config_file_supplies_values_the_environment_does_not(
        monkeypatch: pytest.MonkeyPatch, tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path
    config = Path(str(tmp_path)) / "telecase.toml"
    config.write_text('telegram_mode = "polling"\nwebhook_port = 9000\ndata_dir = "/srv/tc"\n')
    monkeypatch.setenv("TELECASE_CONFIG", str(config))
    monkeypatch.setenv("TELECASE_WEBHOOK_PORT", "9100")  # the environment wins
    settings = load_settings()
    assert (settings.telegram_mode, settings.webhook_port, settings.data_dir) == (
        "polling", 9100, "/srv/tc")
    assert settings.projection_url("embedded") == "sqlite:////srv/tc/projections.sqlite"


def test_a_missing_or_broken_config_file_is_named(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path
    monkeypatch.setenv("TELECASE_CONFIG", "/nonexistent/telecase.toml")
    with pytest.raises(SettingsError, match="no such file"):
        load_settings()
    broken = Path(str(tmp_path)) / "broken.toml"
    broken.write_text("this is = = not toml")
    monkeypatch.setenv("TELECASE_CONFIG", str(broken))
    with pytest.raises(SettingsError, match="TELECASE_CONFIG"):
        load_settings()

"""Settings and the README: an empty environment value, and a table row for every setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import AliasChoices

from telecase.settings import EMPTY_MEANS_EMPTY, Settings, load_settings

README = Path(__file__).resolve().parents[3] / "README.md"


def test_an_empty_intake_command_means_no_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELECASE_INTAKE_COMMAND", "")
    monkeypatch.setenv("TELECASE_TOPIC_PREFIX", "")
    assert load_settings().intake_command == ""
    assert load_settings().topic_prefix == ""


def test_an_empty_value_of_any_other_setting_means_its_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``${VAR:-}`` in a compose file leaves the setting unset."""
    for name in ("POLICY_FILE", "METRICS_PORT", "DASHBOARD_SECRET", "WEBHOOK_PATH",
                 "INTAKE_REGIONS"):
        monkeypatch.setenv(f"TELECASE_{name}", "")
    settings = load_settings()
    assert settings.policy_file is None and settings.metrics_port is None
    assert settings.dashboard_secret is None and settings.webhook_path == "/telegram"
    assert settings.intake_regions == ["EMEA", "Americas", "APAC"]


def test_the_environment_still_wins_over_the_config_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "telecase.toml"
    config.write_text('intake_command = "/hello"\n')
    monkeypatch.setenv("TELECASE_CONFIG", str(config))
    assert load_settings().intake_command == "/hello"
    monkeypatch.setenv("TELECASE_INTAKE_COMMAND", "")
    assert load_settings().intake_command == ""


def _documented() -> set[str]:
    """Every variable the README's Configuration table names; ``A_B_C`` / ``_D`` rows name
    ``A_B_C`` and ``A_D`` or ``A_B_D`` (the shorthand shares a prefix of the first name)."""
    text = README.read_text()
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in table.splitlines():
        if not row.startswith("| `"):
            continue
        cell = row.split("|")[1]
        head, *rest = re.findall(r"`([A-Z_]+)`", cell)
        names.add(head)
        parts = head.split("_")
        for suffix in rest:
            if not suffix.startswith("_"):
                names.add(suffix)
                continue
            names.update("_".join(parts[:i]) + suffix for i in range(1, len(parts)))
    return names


def _env_names(name: str) -> list[str]:
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [f"TELECASE_{name.upper()}"]


def test_every_setting_is_in_the_readme_table() -> None:
    documented = _documented()
    missing = [name for name in Settings.model_fields
               if not documented.intersection(_env_names(name))]
    assert missing == []


def test_empty_means_empty_only_for_text_settings_the_readme_calls_empty() -> None:
    for name in EMPTY_MEANS_EMPTY:
        assert Settings.model_fields[name].annotation is str
        row = next(r for r in README.read_text().splitlines()
                   if r.startswith(f"| `TELECASE_{name.upper()}`"))
        assert "empty" in row

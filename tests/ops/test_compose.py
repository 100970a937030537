"""docker-compose.yml and the Dockerfile, checked without Docker: the compose file is valid
against the Compose Specification's schema; each telecase service runs a real ``telecase``
command with options the CLI accepts, sets only variables the settings read (with values they
accept), and publishes the ports the processes listen on; the Dockerfile ships every package."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
import typer.main
from pydantic import AliasChoices

from telecase.cli.main import app
from telecase.settings import Settings
from tests.infra import ROOT
from tests.ops.deploy_files import DEPLOY, compose, compose_schema

REQUIRED = {"TELECASE_TELEGRAM_BOT_TOKEN": "123456:compose-check",
            "TELECASE_TELEGRAM_WEBHOOK_SECRET": "compose-check"}
"""What ``docker compose up`` must be given (the file's ``${VAR:?...}``)."""


def telecase_services() -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose(REQUIRED)["services"]
    return {name: s for name, s in services.items() if s.get("build") == "."}


def test_the_compose_file_is_valid_against_the_compose_schema() -> None:
    schema = compose_schema()  # draft 7, as its "$schema" says
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(compose(REQUIRED))


def test_a_missing_bot_token_stops_compose_with_its_message() -> None:
    with pytest.raises(KeyError, match="set the bot token"):
        compose({})


def test_the_telecase_services_are_the_processes() -> None:
    assert set(telecase_services()) >= {"connector", "worker", "projector"}


def _is_group(command: Any) -> bool:
    return hasattr(command, "get_command")  # a click group (typer ships its own click)


def _leaf(args: list[str]) -> tuple[list[str], Any, list[str]]:
    """The command ``telecase <args>`` runs: its path, itself, and its own arguments."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    rest = list(args)
    while _is_group(command) and rest and not rest[0].startswith("-"):
        sub = command.get_command(command.context_class(command), rest[0])
        assert sub is not None, f"telecase {' '.join(path)}: no command {rest[0]!r}"
        path.append(rest.pop(0))
        command = sub
    return path, command, rest


@pytest.mark.parametrize("service", sorted(telecase_services()))
def test_each_service_runs_a_real_telecase_command(service: str) -> None:
    args = telecase_services()[service]["command"]
    path, command, rest = _leaf(args)
    assert path, f"{service}: {args} names no telecase command"
    # click parses the options as `telecase` would: an unknown option or a bad value raises
    command.make_context(" ".join(["telecase", *path]), rest)
    if _is_group(command):  # a group must run by itself (like `telecase desk`)
        assert command.invoke_without_command, f"{service}: `telecase {args}` only shows help"


def _accepted_variables() -> set[str]:
    names = {"TELECASE_CONFIG"}  # read by Settings.settings_customise_sources
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        else:
            names.add(f"TELECASE_{name.upper()}")
    return names


@pytest.mark.parametrize("service", sorted(telecase_services()))
def test_each_service_sets_only_settings_that_exist_with_values_they_accept(
        service: str) -> None:
    environment: dict[str, Any] = telecase_services()[service]["environment"]
    unknown = set(environment) - _accepted_variables()
    assert not unknown, f"{service}: no such setting {sorted(unknown)}"
    given = {name: str(value) for name, value in environment.items()
             if value not in (None, "") and name != "TELECASE_CONFIG"}
    by_field = {}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [f"TELECASE_{name.upper()}"]
        for variable in choices:
            if variable in given:
                by_field[name] = given[variable]
    Settings.model_validate(by_field)  # raises ValidationError on a value it would refuse


def _container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(p).rsplit(":", 1)[-1]) for p in service.get("ports", [])}


def test_the_published_ports_are_the_ones_the_processes_listen_on() -> None:
    services = telecase_services()
    defaults = Settings.model_validate({})
    assert _container_ports(services["connector"]) == {defaults.webhook_port}
    from telecase.web.server import DASHBOARD_PORT
    assert _container_ports(services["dashboard"]) == {DASHBOARD_PORT}
    assert "--host" in services["dashboard"]["command"]  # not 127.0.0.1 inside a container


def test_prometheus_scrapes_the_metrics_port_the_processes_serve() -> None:
    services = telecase_services()
    scrape = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    targets = set(re.findall(r'"([a-z-]+):(\d+)"', scrape))
    assert targets
    for name, port in targets:
        environment = services[name]["environment"]
        assert environment["TELECASE_METRICS_PORT"] == port, name
        assert environment["TELECASE_METRICS_HOST"] == "0.0.0.0", name


def test_the_monitoring_services_mount_the_deploy_files_that_exist() -> None:
    services = compose(REQUIRED)["services"]
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"


def test_the_dockerfile_copies_every_package_and_runs_telecase() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+) \./\1$", dockerfile, re.MULTILINE))
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages <= copied, f"not copied: {sorted(packages - copied)}"
    assert 'ENTRYPOINT ["telecase"]' in dockerfile
    python = re.search(r"^FROM python:(\d+)\.(\d+)", dockerfile, re.MULTILINE)
    assert python is not None and (int(python[1]), int(python[2])) >= (3, 11)

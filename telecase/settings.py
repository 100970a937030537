"""Configuration from environment variables (``TELECASE_*``) and an optional ``.env`` file.

Validated at start: a wrong or missing value stops the process with one clear line per problem.
``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL`` are honoured without the prefix too.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """The configuration is invalid; the message lists every problem."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TELECASE_", env_file=".env",
                                      env_file_encoding="utf-8", extra="ignore")

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("TELECASE_KAFKA_BOOTSTRAP_SERVERS",
                                      "KAFKA_BOOTSTRAP_SERVERS"))
    database_url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:5432/telecase",
        validation_alias=AliasChoices("TELECASE_DATABASE_URL", "DATABASE_URL"))
    topic_prefix: str = ""
    topic_partitions: int = Field(4, ge=1, le=1024)
    topic_replication_factor: int = Field(1, ge=1)
    data_dir: str = ".telecase"
    """Local state: the Faust worker's table store, and the embedded runtime's files."""
    worker_app_id: str = "telecase-worker"
    projector_group_id: str = "telecase-projector"
    consumer_session_timeout: float = Field(30.0, ge=6.0, le=300.0)
    """Seconds before a silent worker or projector's partitions go to another one."""

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_mode: Literal["webhook", "polling"] = "webhook"
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(8080, ge=0, le=65535)
    webhook_path: str = "/telegram"
    webhook_max_body_bytes: int = Field(1_000_000, ge=1024)

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    metrics_port: int | None = Field(None, ge=0, le=65535)

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            head, _, tail = v.get_secret_value().partition(":")
            if not head.isdigit() or not tail:
                raise ValueError("must look like '<bot id>:<secret>' as BotFather issues it")
        return v

    @property
    def bot_id(self) -> int:
        return int(self.require_token().split(":", 1)[0])

    def require_token(self) -> str:
        if self.telegram_bot_token is None:
            raise SettingsError("TELECASE_TELEGRAM_BOT_TOKEN is not set")
        return self.telegram_bot_token.get_secret_value()

    def require_webhook_secret(self) -> str:
        if self.telegram_webhook_secret is None:
            raise SettingsError("TELECASE_TELEGRAM_WEBHOOK_SECRET is not set (webhook mode "
                                "needs the secret_token given to setWebhook)")
        return self.telegram_webhook_secret.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [f"  TELECASE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                 for e in exc.errors()]
        raise SettingsError("invalid configuration:\n" + "\n".join(lines)) from None

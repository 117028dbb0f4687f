"""Runtime settings of the inference service, read once from environment variables.

Everything a deployment may tune is an environment variable, so the same image runs locally,
in a container and in Kubernetes without rebuilding.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import PROJECT_SLUG
from .model import DEFAULT_MODEL_PATH, MODEL_PATH_ENV

DEFAULT_PORT = 8080
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024  # 1 MiB: tens of thousands of rows of a small model
DEFAULT_MAX_ROWS = 10_000
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


def _int_env(env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Service settings.

    Attributes:
        model_path: The model artifact to load at start-up (``MODEL_PATH``).
        model_name: The model's name in v2 URLs, ``/v2/models/{model_name}`` (``MODEL_NAME``).
        host: Interface to listen on (``HOST``).
        port: TCP port to listen on (``PORT``).
        max_request_bytes: Largest request body accepted; larger ones get 413
            (``MAX_REQUEST_BYTES``).
        max_rows: Most rows one prediction request may carry; more get 413 (``MAX_ROWS``).
        log_level: uvicorn log level (``LOG_LEVEL``).
    """

    model_path: Path = field(default_factory=lambda: DEFAULT_MODEL_PATH)
    model_name: str = PROJECT_SLUG
    host: str = "0.0.0.0"  # noqa: S104 - a container must listen on all interfaces
    port: int = DEFAULT_PORT
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_rows: int = DEFAULT_MAX_ROWS
    log_level: str = "info"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from environment variables, falling back to the defaults.

        Args:
            env: The variables to read; ``os.environ`` when omitted.

        Returns:
            The settings.

        Raises:
            ConfigError: A variable is set to an unusable value; the message names it.
        """
        env = os.environ if env is None else env
        log_level = env.get("LOG_LEVEL", "").strip().lower() or cls.log_level
        if log_level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
        model_name = env.get("MODEL_NAME", "").strip() or cls.model_name
        if "/" in model_name:
            raise ConfigError(f"MODEL_NAME must not contain '/', got {model_name!r}")
        return cls(
            model_path=Path(env.get(MODEL_PATH_ENV, "").strip() or DEFAULT_MODEL_PATH),
            model_name=model_name,
            host=env.get("HOST", "").strip() or cls.host,
            port=_int_env(env, "PORT", DEFAULT_PORT, minimum=1, maximum=65535),
            max_request_bytes=_int_env(
                env, "MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES, minimum=1, maximum=1 << 30
            ),
            max_rows=_int_env(env, "MAX_ROWS", DEFAULT_MAX_ROWS, minimum=1, maximum=10_000_000),
            log_level=log_level,
        )

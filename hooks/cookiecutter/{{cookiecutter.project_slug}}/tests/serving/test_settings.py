{% set package_name = cookiecutter.package_name %}{% set project_slug = cookiecutter.project_slug %}"""Service settings from environment variables."""

from pathlib import Path

import pytest

from {{ package_name }} import PROJECT_SLUG
from {{ package_name }}.serving.settings import ConfigError, Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.model_path == Path("artifacts/model.joblib")
    assert settings.model_name == PROJECT_SLUG == "{{ project_slug }}"
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)
    assert settings.max_request_bytes == 1024 * 1024
    assert (settings.batch_max_size, settings.batch_max_wait_ms, settings.queue_max_size) == (256, 0.0, 512)
    assert (settings.workers, settings.shutdown_timeout, settings.access_log) == (1, 25, True)


def test_environment_overrides() -> None:
    settings = Settings.from_env(
        {
            "MODEL_PATH": "/opt/model/model.joblib",
            "MODEL_NAME": "iris",
            "HOST": "127.0.0.1",
            "PORT": "9000",
            "MAX_REQUEST_BYTES": "2048",
            "MAX_ROWS": "7",
            "LOG_LEVEL": "WARNING",
            "ACCESS_LOG": "false",
            "BATCH_MAX_SIZE": "32",
            "BATCH_MAX_WAIT_MS": "2.5",
            "QUEUE_MAX_SIZE": "100",
            "WORKERS": "4",
            "SHUTDOWN_TIMEOUT": "50",
        }
    )
    assert settings == Settings(
        model_path=Path("/opt/model/model.joblib"),
        model_name="iris",
        host="127.0.0.1",
        port=9000,
        max_request_bytes=2048,
        max_rows=7,
        log_level="warning",
        access_log=False,
        batch_max_size=32,
        batch_max_wait_ms=2.5,
        queue_max_size=100,
        workers=4,
        shutdown_timeout=50,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "http"),
        ("PORT", "0"),
        ("MAX_REQUEST_BYTES", "-1"),
        ("MAX_ROWS", "1.5"),
        ("LOG_LEVEL", "loud"),
        ("ACCESS_LOG", "maybe"),
        ("BATCH_MAX_SIZE", "0"),
        ("BATCH_MAX_WAIT_MS", "soon"),
        ("BATCH_MAX_WAIT_MS", "-1"),
        ("BATCH_MAX_WAIT_MS", "nan"),
        ("QUEUE_MAX_SIZE", "0"),
        ("WORKERS", "0"),
        ("SHUTDOWN_TIMEOUT", "-5"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})

{% set package_name = cookiecutter.package_name %}"""Shutdown as a rolling update sees it: readiness turns 503 at SIGTERM while requests are still answered."""

import signal
import time
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from {{ package_name }}.serving.settings import ConfigError, Settings


def test_shutdown_delay_defaults_to_zero_and_reads_env() -> None:
    assert Settings.from_env({}).shutdown_delay == 0
    assert Settings.from_env({"SHUTDOWN_DELAY": "7.5"}).shutdown_delay == 7.5


@pytest.mark.parametrize("raw", ["-1", "soon", "nan"])
def test_bad_shutdown_delay_names_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError, match="SHUTDOWN_DELAY"):
        Settings.from_env({"SHUTDOWN_DELAY": raw})


def test_sigterm_turns_readiness_false_but_keeps_serving(
    start_server: Callable[..., Any], row: list[Any]
) -> None:
    # The delay is what a load balancer gets to notice the 503 and drop this server.
    delay = 4.0
    server = start_server(SHUTDOWN_DELAY=str(delay))
    rows = [row]
    with httpx2.Client(base_url=server.url, timeout=10, trust_env=False) as http:
        assert http.get("/v2/health/ready").status_code == 200
        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        deadline = signalled + delay
        while (ready := http.get("/v2/health/ready")).status_code == 200:
            assert time.monotonic() < deadline, "readiness still 200 long after SIGTERM"
            time.sleep(0.05)
        assert ready.status_code == 503
        assert ready.json() == {"ready": False, "error": "shutting down"}
        # New connections are still accepted, liveness holds and predictions are answered.
        with httpx2.Client(base_url=server.url, timeout=10, trust_env=False) as fresh:
            assert fresh.get("/v2/health/live").status_code == 200
            assert fresh.post("/predict", json={"instances": rows}).status_code == 200
    assert server.process.wait(timeout=60) in {0, -signal.SIGTERM}
    assert time.monotonic() - signalled >= delay - 0.5, "the server stopped before its delay was over"
    assert "readiness is 503 meanwhile" in server.output()
    assert "Finished server process" in server.output()


def test_second_signal_skips_the_rest_of_the_delay(start_server: Callable[..., Any]) -> None:
    server = start_server(SHUTDOWN_DELAY="600")
    server.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    while "readiness is 503 meanwhile" not in server.output():
        assert time.monotonic() < deadline, f"SIGTERM was not seen:\n{server.output()}"
        time.sleep(0.05)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=60) in {0, -signal.SIGTERM}

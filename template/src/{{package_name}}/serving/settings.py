"""Runtime settings of the inference service, read once from environment variables.

Owned by the template: extend through ``model.py``; ``copier update`` may replace this file.

Everything a deployment may tune is an environment variable, so the same image runs locally,
in a container and in Kubernetes without rebuilding.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .. import PROJECT_SLUG
from .artifact import DEFAULT_MODEL_PATH, model_path

DEFAULT_PORT = 8080
DEFAULT_GRPC_PORT = 8081  # the Open Inference Protocol's gRPC port in KServe and MLServer
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024  # 1 MiB: tens of thousands of rows of a small model
DEFAULT_MAX_ROWS = 10_000
# Values in one answer: rows x (1 for predict + one per class for predict_proba). Caps what a
# small request can make the service write; 10,000 rows of both outputs of a 99-class model pass.
DEFAULT_MAX_RESPONSE_VALUES = 1_000_000
# Micro-batching: a model call costs about the same for 1 row as for a few hundred (the fixed
# cost is scikit-learn's input checks and Python dispatch), so concurrent requests are merged.
DEFAULT_BATCH_MAX_SIZE = 256  # rows per model call; a bigger request runs in chunks of it
DEFAULT_BATCH_MAX_WAIT_MS = 0.0  # 0: no waiting, batches form from requests that arrive together
DEFAULT_QUEUE_MAX_SIZE = 512  # requests waiting for the model; more get 503 + Retry-After
DEFAULT_WORKERS = 1
DEFAULT_SHUTDOWN_TIMEOUT = 25  # seconds; under Kubernetes' default 30 s grace period
DEFAULT_SHUTDOWN_DELAY = 0.0  # seconds; the chart's preStop hook holds the delay instead
DEFAULT_REQUEST_TIMEOUT = 5.0  # seconds for a request's headers, then as long for its body; 408 after
DEFAULT_MAX_CONNECTIONS = 1000  # per worker: file descriptors, under a container's 1024 at worst
# Drift: served rows counted into the training profile's bins, for this many features (the first ones).
DEFAULT_DRIFT_FEATURES = 50
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


def _float_env(env: Mapping[str, str], name: str, default: float, *, minimum: float, maximum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    # The chained comparison is False for NaN too, so "nan" is refused with the range message.
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name} must be between {minimum:g} and {maximum:g}, got {raw}")
    return value


def _bool_env(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Service settings.

    Attributes:
        model_path: The model artifact to load at start-up: ``model.joblib`` in ``MODEL_DIR`` (a
            folder holding it and its ``signature.json``, e.g. KServe's ``/mnt/models``), else
            ``MODEL_PATH`` (the image sets it to its own model), else ``artifacts/model.joblib``.
            ``MODEL_DIR`` wins when both are set; a ``MODEL_PATH`` naming another file in that
            folder contradicts it and is refused.
        model_name: The model's name in v2 URLs, ``/v2/models/{model_name}`` (``MODEL_NAME``).
        host: Interface to listen on (``HOST``).
        port: TCP port to listen on (``PORT``).
        grpc_port: TCP port of the Open Inference Protocol's gRPC service (``GRPC_PORT``,
            default 8081; it must differ from ``PORT``). ``None``, the default of settings made
            in code (an app under test), serves no gRPC.
        max_request_bytes: Largest request body accepted; larger ones get 413
            (``MAX_REQUEST_BYTES``).
        max_rows: Most rows one prediction request may carry; more get 413 (``MAX_ROWS``).
        max_response_values: Most values one v2 answer may hold, rows times the width of each
            output asked for (1 for ``predict``, one per class for ``predict_proba``); a request
            asking for more gets 413 before the model runs (``MAX_RESPONSE_VALUES``).
        log_level: uvicorn log level (``LOG_LEVEL``).
        access_log: One log line per request (``ACCESS_LOG``, default true).
        batch_max_size: Most rows in one model call (``BATCH_MAX_SIZE``); a request with more
            rows runs in chunks of this size, and other requests are served between them.
        batch_max_wait_ms: How long the first request of a batch may wait for others, in
            milliseconds (``BATCH_MAX_WAIT_MS``); 0 batches only requests that arrive together.
        queue_max_size: Most requests waiting for the model; more are refused with 503 and
            ``Retry-After`` (``QUEUE_MAX_SIZE``).
        workers: Server processes (``WORKERS``); each loads the model and batches on its own.
        shutdown_timeout: Seconds to finish accepted requests after SIGTERM before exiting
            anyway (``SHUTDOWN_TIMEOUT``); keep it under the pod's termination grace period.
        shutdown_delay: Seconds between SIGTERM and the start of that drain
            (``SHUTDOWN_DELAY``, default 0), during which the server keeps answering while
            readiness is 503, so load balancers drop it before it stops accepting connections.
            For hosts without a preStop hook; the grace period must cover it too.
        model_page: Serve the model page at ``/`` (``MODEL_PAGE``, default true): a form built
            from the signature that calls the service from the browser. Off: ``/`` is a 404.
        request_timeout: Seconds a request's headers may take to arrive, then as long for its
            body (``REQUEST_TIMEOUT``, default 5): slower ones get 408 and the connection is
            closed; an idle keep-alive connection is closed after as long.
        max_connections: Most open connections per worker (``MAX_CONNECTIONS``, default 1000);
            requests on connections past it get 503 with ``Retry-After``, except the health
            probes and ``/metrics``. Keep it under the container's open-file limit.
        public_example: Publish the signature's held-out example rows (real data) in the model
            metadata, the OpenAPI schema and the model page (``PUBLIC_EXAMPLE``, default false);
            off, they show one synthetic row made from the signature instead.
        payload_log_rate: The share of answered predictions whose rows and answers are written to
            standard output as JSON lines for offline analysis (``PAYLOAD_LOG_RATE``, 0 to 1,
            default 0: none, ever); see ``payload_log``.
        drift_features: How many features' served values are counted into the training profile's
            bins for drift (``DRIFT_FEATURES``, default 50: the first 50 columns in signature
            order); 0 counts nothing (``drift``).
    """

    model_path: Path = field(default_factory=lambda: DEFAULT_MODEL_PATH)
    model_name: str = PROJECT_SLUG
    host: str = "0.0.0.0"  # noqa: S104 - a container must listen on all interfaces
    port: int = DEFAULT_PORT
    grpc_port: int | None = None
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_rows: int = DEFAULT_MAX_ROWS
    max_response_values: int = DEFAULT_MAX_RESPONSE_VALUES
    log_level: str = "info"
    access_log: bool = True
    batch_max_size: int = DEFAULT_BATCH_MAX_SIZE
    batch_max_wait_ms: float = DEFAULT_BATCH_MAX_WAIT_MS
    queue_max_size: int = DEFAULT_QUEUE_MAX_SIZE
    workers: int = DEFAULT_WORKERS
    shutdown_timeout: int = DEFAULT_SHUTDOWN_TIMEOUT
    shutdown_delay: float = DEFAULT_SHUTDOWN_DELAY
    model_page: bool = True
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    public_example: bool = False
    payload_log_rate: float = 0.0
    drift_features: int = DEFAULT_DRIFT_FEATURES

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
        try:
            artifact = model_path(env)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        model_name = env.get("MODEL_NAME", "").strip() or cls.model_name
        if "/" in model_name:
            raise ConfigError(f"MODEL_NAME must not contain '/', got {model_name!r}")
        port = _int_env(env, "PORT", DEFAULT_PORT, minimum=1, maximum=65535)
        grpc_port = _int_env(env, "GRPC_PORT", DEFAULT_GRPC_PORT, minimum=1, maximum=65535)
        if grpc_port == port:
            raise ConfigError(f"GRPC_PORT must differ from PORT, both are {port}")
        return cls(
            model_path=artifact,
            model_name=model_name,
            host=env.get("HOST", "").strip() or cls.host,
            port=port,
            grpc_port=grpc_port,
            max_request_bytes=_int_env(
                env, "MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES, minimum=1, maximum=1 << 30
            ),
            max_rows=_int_env(env, "MAX_ROWS", DEFAULT_MAX_ROWS, minimum=1, maximum=10_000_000),
            max_response_values=_int_env(
                env, "MAX_RESPONSE_VALUES", DEFAULT_MAX_RESPONSE_VALUES, minimum=1, maximum=1_000_000_000
            ),
            log_level=log_level,
            access_log=_bool_env(env, "ACCESS_LOG", cls.access_log),
            batch_max_size=_int_env(
                env, "BATCH_MAX_SIZE", DEFAULT_BATCH_MAX_SIZE, minimum=1, maximum=10_000_000
            ),
            batch_max_wait_ms=_float_env(
                env, "BATCH_MAX_WAIT_MS", DEFAULT_BATCH_MAX_WAIT_MS, minimum=0, maximum=10_000
            ),
            queue_max_size=_int_env(
                env, "QUEUE_MAX_SIZE", DEFAULT_QUEUE_MAX_SIZE, minimum=1, maximum=1_000_000
            ),
            workers=_int_env(env, "WORKERS", DEFAULT_WORKERS, minimum=1, maximum=256),
            shutdown_timeout=_int_env(
                env, "SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT, minimum=0, maximum=86_400
            ),
            shutdown_delay=_float_env(
                env, "SHUTDOWN_DELAY", DEFAULT_SHUTDOWN_DELAY, minimum=0, maximum=3_600
            ),
            model_page=_bool_env(env, "MODEL_PAGE", cls.model_page),
            request_timeout=_float_env(
                env, "REQUEST_TIMEOUT", DEFAULT_REQUEST_TIMEOUT, minimum=0.1, maximum=3_600
            ),
            max_connections=_int_env(
                env, "MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, minimum=1, maximum=1_000_000
            ),
            public_example=_bool_env(env, "PUBLIC_EXAMPLE", cls.public_example),
            payload_log_rate=_float_env(env, "PAYLOAD_LOG_RATE", cls.payload_log_rate, minimum=0, maximum=1),
            drift_features=_int_env(env, "DRIFT_FEATURES", DEFAULT_DRIFT_FEATURES, minimum=0, maximum=1000),
        )

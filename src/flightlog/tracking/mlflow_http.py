"""Bounds on MLflow's HTTP retries and timeout for the thread that sends a tracker's records.

MLflow reads ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` (default 7, with a backoff factor of 2: about
4 minutes against a server that is down) and ``MLFLOW_HTTP_REQUEST_TIMEOUT`` (120 s) from the
environment at every request, and takes no such setting per client. Setting the variables
would change every MLflow call of the process (and of the processes it starts); instead, the
settings that ``mlflow.utils.rest_utils`` reads are given a per-thread override, which only the
sending thread of an :class:`~flightlog.trackers.MLflowTracker` sets (:func:`bounded_http`).
Every other thread reads MLflow's settings as before. Where an MLflow version reads them
otherwise, the override is not installed and MLflow's own settings apply.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["DEFAULT_RETRIES", "DEFAULT_TIMEOUT", "bounded_http", "http_settings"]

DEFAULT_RETRIES = 2
DEFAULT_TIMEOUT = 10
# MLflow's setting (the variable that sets it) -> the name of the override.
_SETTINGS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "max_retries",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "backoff_factor",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "timeout",
}
_BACKOFF_FACTOR = 1  # seconds, doubling from the second retry on (MLflow's default: 2)
_local = threading.local()
_install_lock = threading.Lock()


class _ThreadSetting:
    """Stands for one of MLflow's environment settings: reads the override of the current
    thread, if it has one, else the setting itself."""

    def __init__(self, setting: Any, name: str) -> None:
        self.setting = setting
        self.name_of_override = name

    def get(self) -> Any:
        overrides = getattr(_local, "overrides", None)
        if overrides is not None and self.name_of_override in overrides:
            return overrides[self.name_of_override]
        return self.setting.get()

    def __getattr__(self, name: str) -> Any:  # name, default, is_set(), …
        return getattr(self.setting, name)

    def __str__(self) -> str:
        return str(self.setting)


def _install() -> bool:
    """Put the per-thread settings in place of MLflow's (once per process); False where this
    MLflow reads them otherwise."""
    try:
        from mlflow.utils import rest_utils
    except ImportError:
        return False
    with _install_lock:
        installed = True
        for variable, name in _SETTINGS.items():
            setting = getattr(rest_utils, variable, None)
            if isinstance(setting, _ThreadSetting):
                continue
            if setting is None or not callable(getattr(setting, "get", None)):
                installed = False
                continue
            setattr(rest_utils, variable, _ThreadSetting(setting, name))
        return installed


def _from_environment(variable: str) -> int | None:
    text = os.environ.get(variable)
    try:
        return None if text is None else int(text)
    except ValueError:
        return None  # MLflow itself says what is wrong with it


def http_settings(retries: int | None = None, timeout: float | None = None) -> dict[str, Any]:
    """The bounds a tracker sends with: ``retries`` and ``timeout`` when given, else MLflow's
    variables where the user set them, else 2 retries and 10 s."""
    if retries is None:
        retries = _from_environment("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
    if timeout is None:
        timeout = _from_environment("MLFLOW_HTTP_REQUEST_TIMEOUT")
    return {
        "max_retries": DEFAULT_RETRIES if retries is None else retries,
        "timeout": DEFAULT_TIMEOUT if timeout is None else timeout,
    }


@contextmanager
def bounded_http(settings: dict[str, Any]) -> Iterator[bool]:
    """MLflow's HTTP requests made by this thread use ``settings`` (see
    :func:`http_settings`) while the block runs; yields whether the bounds apply."""
    installed = _install()
    overrides = dict(settings)
    if "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR" not in os.environ:
        overrides.setdefault("backoff_factor", _BACKOFF_FACTOR)
    earlier = getattr(_local, "overrides", None)
    _local.overrides = overrides
    try:
        yield installed
    finally:
        _local.overrides = earlier

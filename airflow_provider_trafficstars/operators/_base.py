"""The base of every TrafficStars operator and of the report transfer: the connection id and the hook."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_provider_trafficstars.hooks.trafficstars import TrafficStarsHook

DEFAULT_CONN_ID = TrafficStarsHook.default_conn_name


class TrafficStarsBaseOperator(BaseOperator):
    """Base of the TrafficStars operators: the connection id (templated) and the hook, built on first use.

    The hook is built in ``execute`` (never in ``__init__``), after the templates are rendered, so a task
    mapped over accounts (``.partial(...).expand(trafficstars_conn_id=[...])``) or given
    ``trafficstars_conn_id="{{ params.account }}"`` talks to the account it names.

    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``).
    """

    template_fields: Sequence[str] = ("trafficstars_conn_id",)
    ui_color = "#f4e1f0"

    def __init__(self, *, trafficstars_conn_id: str = DEFAULT_CONN_ID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trafficstars_conn_id = trafficstars_conn_id

    @cached_property
    def hook(self) -> TrafficStarsHook:
        """Return the hook of this task (no I/O until it is used)."""
        return TrafficStarsHook(self.trafficstars_conn_id)

"""Operators for the TrafficStars API: session info, token renewal, logout and any authenticated call.

Every operator gets its token from the hook (the shared, cached token of the connection): a DAG author
never handles a token, and no token ever reaches an XCom, a rendered template or a log line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_trafficstars.client._checks import check_seconds, require_ttl, session_summary
from airflow_provider_trafficstars.client.http._answers import json_body
from airflow_provider_trafficstars.client.http._urls import endpoint_path
from airflow_provider_trafficstars.exceptions import (
    TrafficStarsConfigError,
    TrafficStarsResponseCheckError,
)
from airflow_provider_trafficstars.operators._base import DEFAULT_CONN_ID, TrafficStarsBaseOperator

if TYPE_CHECKING:
    import requests
    from airflow.providers.common.compat.sdk import Context


class TrafficStarsSessionInfoOperator(TrafficStarsBaseOperator):
    """Read the session info of the shared token; return ``{"expires_in", "expires_at", "token_type"}``.

    The answer's access and refresh tokens never reach the XCom or the log. ``expires_at`` (ISO 8601
    UTC) is computed from ``expires_in`` at the time of the answer.

    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``) (templated: map a
        task over accounts with ``.expand(trafficstars_conn_id=[...])``).
    """

    template_fields: Sequence[str] = ("trafficstars_conn_id",)

    def execute(self, context: Context) -> dict[str, Any]:
        summary = session_summary(self.hook.get_session_info())
        self.log.info(
            "The TrafficStars session is valid for %s s more (until %s).", summary["expires_in"], summary["expires_at"]
        )
        return summary


class TrafficStarsLogoutOperator(TrafficStarsBaseOperator):
    """End the session of the shared token and clear the cached token.

    Succeeds when there is no valid cached token and when TrafficStars says the token is already
    invalid. Every task after it (in any DAG using the same connection) takes a new token.

    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``) (templated: map a
        task over accounts with ``.expand(trafficstars_conn_id=[...])``).
    """

    template_fields: Sequence[str] = ("trafficstars_conn_id",)

    def execute(self, context: Context) -> None:
        if self.hook.logout():
            self.log.info("Ended the TrafficStars session and cleared the cached token.")
        else:
            self.log.info("No valid TrafficStars token was cached: nothing to log out from.")


class TrafficStarsRefreshTokenOperator(TrafficStarsBaseOperator):
    """Make sure the shared token stays valid for at least ``min_ttl`` seconds; return ``{"expires_at"}``.

    Put it first in a DAG: it renews the token once (only when needed, or always with ``force``) and
    every task downstream reuses that token from the shared cache.

    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``) (templated: map a
        task over accounts with ``.expand(trafficstars_conn_id=[...])``).
    :param min_ttl: seconds the token must stay valid for; renewed if it has less.
    :param force: renew even if the cached token is fresh.
    :raises TrafficStarsConfigError: when ``min_ttl`` exceeds the lifetime of a new token (it can never be met).
    """

    template_fields: Sequence[str] = ("trafficstars_conn_id",)

    def __init__(
        self,
        *,
        trafficstars_conn_id: str = DEFAULT_CONN_ID,
        min_ttl: float = 3600,
        force: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(trafficstars_conn_id=trafficstars_conn_id, **kwargs)
        self.min_ttl = check_seconds(min_ttl)
        self.force = force

    def execute(self, context: Context) -> dict[str, Any]:
        token = self.hook.get_token(min_ttl=self.min_ttl, force_refresh=self.force)
        require_ttl(token, self.min_ttl)
        self.log.info("The shared TrafficStars token is valid until %s.", token.expires_at.isoformat())
        return {"expires_at": token.expires_at.isoformat()}


class TrafficStarsApiOperator(TrafficStarsBaseOperator):
    """Send an authenticated call to any TrafficStars endpoint; return the parsed JSON answer.

    The answer body is never logged (it may hold secrets): only the status and the size are.

    ``query_params`` is what the issue called ``params``: Airflow's ``BaseOperator`` owns that argument
    (DAG and task params are merged into it), so the query string has its own name.

    :param endpoint: a path such as ``/v1.1/campaigns``, optionally with a query string (templated).
    :param method: the HTTP method.
    :param query_params: query parameters; a list value is sent as ``name[]=a&name[]=b`` (templated).
    :param json: a JSON body (templated).
    :param data: a form or raw body (templated).
    :param headers: extra headers; an ``Authorization`` header is replaced by the token (templated).
    :param response_check: called with the ``requests.Response``; returning False fails the task.
    :param response_filter: called with the ``requests.Response``; its result becomes the XCom instead of
        the parsed JSON (keep it JSON-safe and free of secrets).
    :param idempotent: whether the call may be sent twice (retried after 5xx and read timeouts); None
        decides by method: GET, HEAD, OPTIONS, PUT and DELETE are idempotent, POST and PATCH are not.
    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``) (templated: map a
        task over accounts with ``.expand(trafficstars_conn_id=[...])``).
    :return: the parsed JSON answer (None for an empty answer such as 204), or the ``response_filter`` result.
    """

    template_fields: Sequence[str] = ("trafficstars_conn_id", "endpoint", "query_params", "json", "data", "headers")
    template_fields_renderers = {"json": "json", "query_params": "json", "headers": "json"}

    def __init__(
        self,
        *,
        endpoint: str,
        method: str = "GET",
        query_params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        response_check: Callable[[requests.Response], bool] | None = None,
        response_filter: Callable[[requests.Response], Any] | None = None,
        idempotent: bool | None = None,
        trafficstars_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(trafficstars_conn_id=trafficstars_conn_id, **kwargs)
        if not isinstance(method, str) or not method.strip().isalpha():
            raise TrafficStarsConfigError(f"method must be an HTTP method such as 'GET', got {method!r}.")
        self.endpoint = endpoint
        self.method = method.strip().upper()
        self.query_params = query_params
        self.json = json
        self.data = data
        self.headers = headers
        self.response_check = response_check
        self.response_filter = response_filter
        self.idempotent = idempotent

    def execute(self, context: Context) -> Any:
        resp = self.hook.request(
            self.method,
            self.endpoint,
            params=self.query_params,
            json=self.json,
            data=self.data,
            headers=self.headers,
            idempotent=self.idempotent,
        )
        path = endpoint_path(self.endpoint)
        self.log.info(
            "TrafficStars answered HTTP %s to %s %s (%d bytes).", resp.status_code, self.method, path, len(resp.content)
        )
        if self.response_check is not None and not self.response_check(resp):
            raise TrafficStarsResponseCheckError(
                f"response_check returned False for {self.method} {path} (HTTP {resp.status_code}).",
                status_code=resp.status_code,
                method=self.method,
                endpoint=path,
            )
        if self.response_filter is not None:
            return self.response_filter(resp)
        return json_body(resp, self.method, self.endpoint, hint=" Use response_filter to return something else.")

"""TrafficStarsHook: reads the Airflow connection and builds a client with a Variable-backed token cache."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_trafficstars.client.auth._token import AccessToken
from airflow_provider_trafficstars.client.cache._budget import budget_key
from airflow_provider_trafficstars.client.cache._record import MemoryTokenCache, TokenCache, VariableTokenCache
from airflow_provider_trafficstars.exceptions import (
    TrafficStarsError,
)
from airflow_provider_trafficstars.hooks import _airflow as _compat
from airflow_provider_trafficstars.hooks._connection import (
    CONN_TYPE,
    EXTRA_FIELDS,
    HIDDEN_FIELDS,
    PLACEHOLDERS,
    RELABELING,
    connection_config,
)
from airflow_provider_trafficstars.hooks._connection import default_token_variable as default_token_variable

if TYPE_CHECKING:
    import requests
    from airflow.providers.common.compat.sdk import Connection
    from pendulum import DateTime

    # Imported lazily at run time: requests and tenacity cost more to import than the rest of the
    # provider, and a DAG file that only names the hook should parse fast.
    from airflow_provider_trafficstars.client._client import ClientConfig, TrafficStarsClient


class TrafficStarsHook(BaseHook):
    """Interact with the TrafficStars API using one access token shared through an Airflow Variable.

    The API key is the connection's password. The token is exchanged once, stored (with its expiry) in
    the Variable ``trafficstars_access_token_<conn_id>`` (or the ``cache_variable`` extra), reused by every
    task and worker, and renewed shortly before it expires.

    :param trafficstars_conn_id: the Airflow connection id (conn type ``trafficstars``).
    :param token_cache: where to share the token; by default the connection's Variable.
    :param clock: the current UTC time (tests inject one).
    :param sleep: the wait between retries (tests inject one).
    :param max_retries: overrides the connection extra ``max_retries`` (a sensor poke uses 0: the next
        poke is its retry).
    :param wait_for_budget: wait for the account's call budget inside a call (within its ``backoff_budget``);
        False (a trigger) raises :class:`~airflow_provider_trafficstars.exceptions.TrafficStarsBudgetError` with
        the wait instead, so that the wait happens outside the call.
    """

    conn_name_attr = "trafficstars_conn_id"
    default_conn_name = "trafficstars_default"
    conn_type = CONN_TYPE
    hook_name = "TrafficStars"

    def __init__(
        self,
        trafficstars_conn_id: str = default_conn_name,
        *,
        token_cache: TokenCache | None = None,
        clock: Callable[[], DateTime] | None = None,
        sleep: Callable[[float], None] | None = None,
        max_retries: int | None = None,
        wait_for_budget: bool = True,
    ) -> None:
        super().__init__()
        if max_retries is not None and max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.trafficstars_conn_id = trafficstars_conn_id
        self._token_cache = token_cache
        self._clock = clock
        self._sleep = sleep
        self._max_retries = max_retries
        self._wait_for_budget = wait_for_budget

    def __repr__(self) -> str:
        return f"{type(self).__name__}(trafficstars_conn_id={self.trafficstars_conn_id!r})"

    # -- building the client ----------------------------------------------------------------------
    @classmethod
    def get_connection(cls, conn_id: str) -> Connection:
        """Return the connection ``conn_id``, also from a plain Python shell on Airflow 3 (the metadata DB).

        :param conn_id: the connection id.
        """
        return _compat.get_connection(conn_id)

    @classmethod
    def for_polls(cls, conn_id: str, *, wait_for_budget: bool = True) -> TrafficStarsHook:
        """Return the hook of a sensor's pokes and a trigger's polls: no retries inside one, the next is the retry.

        :param wait_for_budget: False for a trigger: the triggerer's threads are shared by every trigger, so a
            poll without budget raises a transient error carrying the wait, which the trigger awaits.
        """
        return cls(conn_id, max_retries=0, wait_for_budget=wait_for_budget)

    def _config(self) -> tuple[ClientConfig, str]:
        conn = self.get_connection(self.trafficstars_conn_id)
        return connection_config(
            conn, self.trafficstars_conn_id, is_masked_key=_compat.is_masked_key, max_retries=self._max_retries
        )

    def _make_client(self, cache: TokenCache | None = None) -> TrafficStarsClient:
        from airflow_provider_trafficstars.client._client import TrafficStarsClient

        config, variable = self._config()
        _compat.mask_secret(config.api_key)
        if cache is None:
            cache = self._token_cache or VariableTokenCache(variable, _compat.get_variable_store())
        kwargs: dict[str, Any] = {"on_secret": _compat.mask_secret, "wait_for_budget": self._wait_for_budget}
        if isinstance(cache, VariableTokenCache):
            # The account's call budget lives beside its token, in a Variable of its own: every process shares it.
            kwargs["budget_store"] = VariableTokenCache(budget_key(config.fingerprint), _compat.get_variable_store())
        if self._clock is not None:
            kwargs["clock"] = self._clock
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        return TrafficStarsClient(config, cache, **kwargs)

    @cached_property
    def _client(self) -> TrafficStarsClient:
        return self._make_client()

    def close(self) -> None:
        """Close the HTTP session of the client, if one was built."""
        client = self.__dict__.pop("client", None)
        if client is not None:
            client.close()

    def get_conn(self) -> TrafficStarsClient:
        """Return the :class:`~airflow_provider_trafficstars.client.TrafficStarsClient` of this hook (built on
        first use; one HTTP session per hook)."""
        return self._client

    # -- public API -------------------------------------------------------------------------------
    def get_access_token(self, *, force_refresh: bool = False) -> str:
        """Deprecated: use ``get_token(...).access_token``, the one way to the token."""
        warnings.warn(
            "TrafficStarsHook.get_access_token() is deprecated; use get_token().access_token.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.get_token(force_refresh=force_refresh).access_token

    def get_token(self, *, min_ttl: float = 0.0, force_refresh: bool = False) -> AccessToken:
        """Return the shared token, renewed if it has less than ``min_ttl`` seconds left.

        :param min_ttl: seconds the token must stay valid for.
        :param force_refresh: renew regardless.
        """
        return self._client.token(force_refresh=force_refresh, min_ttl=min_ttl)

    def get_session_info(self) -> dict[str, Any]:
        """Return the session info (``POST /v1/auth/info``). It holds secrets: never log or return it raw."""
        return self._client.session_info()

    def logout(self) -> bool:
        """End the session of the cached token if it is still valid, and remove the cached token.

        :return: True when a logout call was sent (False: no valid token was cached).
        """
        return self._client.logout()

    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """Send an authenticated call to any TrafficStars endpoint, e.g. ``GET /v1.1/campaigns``.

        List values in ``params`` are sent as ``name[]=a&name[]=b``.

        :param idempotent: whether sending the call twice is harmless, so that it may be retried after 5xx and
            read timeouts; None decides by method (GET, HEAD, OPTIONS, PUT and DELETE are).
        :raises TrafficStarsApiError: for a non-2xx answer, with ``status_code``, ``method``, ``endpoint``.
        """
        return self._client.request(
            method, endpoint, params=params, json=json, data=data, headers=headers, idempotent=idempotent
        )

    def request_json(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send a call and return its JSON answer, unwrapped (see the client's ``request_json``)."""
        return self._client.request_json(method, endpoint, params=params, json=json, idempotent=idempotent)

    def get_report(
        self, report: str, *, date_from: Any, date_to: Any, filters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Return the rows of one report call (see the client's :meth:`~.client.reports._api.ReportsApi.get_report`)."""
        return self._client.get_report(report, date_from=date_from, date_to=date_to, filters=filters)

    def get_campaigns(self, *, status: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Return the account's campaigns (see :meth:`~.client.reports._api.ReportsApi.get_campaigns`)."""
        return self._client.get_campaigns(status=status)

    # -- campaigns and balance (checks and parsing in campaigns.py) ---------------------------------
    def get_campaign(self, campaign_id: int) -> dict[str, Any]:
        """Return one campaign (see :meth:`~.client.campaigns._api.CampaignsApi.get_campaign`)."""
        return self._client.get_campaign(campaign_id)

    def set_campaigns_state(self, campaign_ids: Sequence[int], state: str) -> dict[str, Any]:
        """Run or pause campaigns in one call (see :meth:`~.client.campaigns._api.CampaignsApi.set_campaigns_state`)."""
        return self._client.set_campaigns_state(campaign_ids, state)

    def update_campaign(
        self, campaign_id: int, *, price: float | None = None, max_daily: float | None = None
    ) -> dict[str, Any] | None:
        """Set a campaign's bid and/or budget (see :meth:`~.client.campaigns._api.CampaignsApi.update_campaign`)."""
        return self._client.update_campaign(campaign_id, price=price, max_daily=max_daily)

    def get_balance(self) -> float:
        """Return the account balance (see :meth:`~.client.campaigns._api.CampaignsApi.get_balance`)."""
        return self._client.get_balance()

    def test_connection(self) -> tuple[bool, str]:
        """Exchange the API key for a token and read the session info, touching no shared state.

        The token of the test is kept in memory only: the shared Variable is neither read nor written.
        """
        try:
            # A private dict under one fixed key: nothing shared is touched, and nothing grows per call.
            client = self._make_client(MemoryTokenCache("trafficstars-test-connection", store={}))
            try:
                token = client.token(force_refresh=True)
                info = client.session_info()
            finally:
                client.close()
        except TrafficStarsError as exc:
            return False, str(exc)
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        expires_in = info.get("expires_in", round(token.lifetime))
        return True, f"Connected to {client.config.base_url}: the API key works (token valid for {expires_in} s)."

    # -- Airflow 2 connection form (Airflow 3.2+ reads conn-fields from get_provider_info) -------------
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Return the extra fields of the connection form (Airflow 2, and the API server of 3.0/3.1).

        wtforms is imported lazily: only the UI needs it. Airflow 3.0/3.1 call this with wtforms' field
        classes mocked to read labels and types; 3.0 only when wtforms itself is importable, which is why it
        is one of our dependencies. Flask AppBuilder and Flask-Babel only style the Airflow 2 form, so the
        fields do without them.
        """
        from wtforms import BooleanField, IntegerField, StringField
        from wtforms.validators import NumberRange, Optional

        try:
            from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
            from flask_babel import lazy_gettext
        except ImportError:  # an Airflow 3.0 API server with wtforms but without Flask AppBuilder
            BS3TextFieldWidget = None

            def lazy_gettext(text: str) -> str:
                return text

        def text_widget() -> Any:
            return BS3TextFieldWidget() if BS3TextFieldWidget is not None else None

        widgets: dict[str, Any] = {}
        for f in EXTRA_FIELDS:
            if f.type == "string":
                widgets[f.name] = StringField(lazy_gettext(f.label), widget=text_widget(), description=f.description)
            elif f.type == "boolean":
                widgets[f.name] = BooleanField(lazy_gettext(f.label), description=f.description, default=f.default)
            else:
                widgets[f.name] = IntegerField(
                    lazy_gettext(f.label),
                    widget=text_widget(),
                    description=f.description,
                    default=f.default,
                    validators=[Optional(), NumberRange(min=f.minimum, max=f.maximum)],
                )
        return widgets

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Return hidden fields, relabelling and placeholders of the form (Airflow 2 only)."""
        return {
            "hidden_fields": list(HIDDEN_FIELDS),
            "relabeling": dict(RELABELING),
            "placeholders": dict(PLACEHOLDERS),
        }

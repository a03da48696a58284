"""The few calls of Alertmanager's API v2 that vitalstream makes (httpx, async)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from ingest.errors import (
    AlertmanagerConfigurationError,
    AlertmanagerError,
    AlertmanagerRejectedError,
    RetriableAlertmanagerError,
)

__all__ = ["AlertmanagerClient", "AlertmanagerError", "error_for_status"]

# 4xx answers that may succeed later: the server timed the request out, or asks us to slow down
_RETRIABLE_4XX = frozenset({408, 429})
# the answers Alertmanager gives a request whose content it refuses (its validation of an
# alert: 400 from its own checks, 422 from the API schema); any other 4xx is about where or
# how we post (credentials, path, method, a proxy's limits), whatever the alerts
_CONTENT_4XX = frozenset({400, 422})


def error_for_status(status: int, what: str, body: str) -> AlertmanagerError:
    """The error of an answer ``status`` (>= 300) to the request ``what``: retriable, a
    refusal of the endpoint (the configuration's fault), or a rejection of the request's
    content that says retrying will not help.

    >>> type(error_for_status(503, "POST /alerts", "")).__name__
    'RetriableAlertmanagerError'
    >>> type(error_for_status(429, "POST /alerts", "")).__name__
    'RetriableAlertmanagerError'
    >>> str(error_for_status(400, "POST /alerts", "bad"))
    'Alertmanager POST /alerts answered 400 (retrying will not help): bad'
    >>> str(error_for_status(403, "POST /alerts", "denied"))
    'Alertmanager POST /alerts answered 403 (the endpoint refuses us: check the URL, its \
credentials, any proxy): denied'
    """
    if status in _CONTENT_4XX:
        return AlertmanagerRejectedError(
            f"Alertmanager {what} answered {status} (retrying will not help): {body}", status
        )
    if status < 400 or (status < 500 and status not in _RETRIABLE_4XX):
        # a redirect is not followed (it would turn a POST into a GET): the URL is outdated
        return AlertmanagerConfigurationError(
            f"Alertmanager {what} answered {status} (the endpoint refuses us: check the URL, "
            f"its credentials, any proxy): {body}",
            status,
        )
    return RetriableAlertmanagerError(f"Alertmanager {what} answered {status}: {body}", status)


class AlertmanagerClient:
    """``/api/v2`` of one Alertmanager."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        base = url.rstrip("/")
        # for messages and logs: a user:password in the URL (basic auth) stays out of them
        self.url = str(httpx.URL(base).copy_with(userinfo=b""))
        self._http = httpx.AsyncClient(
            base_url=f"{base}/api/v2", timeout=timeout_s, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise RetriableAlertmanagerError(
                f"Alertmanager at {self.url} unreachable: {exc!r}"
            ) from exc
        if resp.status_code >= 300:
            raise error_for_status(resp.status_code, f"{method} {path}", resp.text[:200])
        return resp

    async def status(self) -> dict[str, Any]:
        """Alertmanager's ``/status`` (version, cluster, config): whether it is one at all."""
        found: dict[str, Any] = (await self._call("GET", "/status")).json()
        return found

    async def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Create or update alerts (Alertmanager merges by label set)."""
        if alerts:
            await self._call("POST", "/alerts", json=alerts)

    async def accepts_posts(self) -> None:
        """Post no alert (``[]``, which Alertmanager accepts): whether the endpoint takes our
        posts at all, whatever any alert carries. Raises what :meth:`post_alerts` would."""
        await self._call("POST", "/alerts", json=[])

    async def alerts(self, filters: list[str]) -> list[dict[str, Any]]:
        """The alerts matching every matcher in ``filters`` (e.g. ``'alert_id=~".+"'``),
        silenced and inhibited ones included."""
        params: list[tuple[str, str | bool]] = [("filter", f) for f in filters]
        params += [("silenced", True), ("inhibited", True), ("active", True)]
        params.append(("unprocessed", True))
        found: list[dict[str, Any]] = (await self._call("GET", "/alerts", params=params)).json()
        return found

    async def create_silence(
        self,
        matchers: dict[str, str],
        *,
        created_by: str,
        comment: str,
        ends_at: datetime,
        starts_at: datetime | None = None,
    ) -> str:
        """Silence the alerts whose labels equal ``matchers``; returns the silence id."""
        body = {
            "matchers": [
                {"name": k, "value": v, "isRegex": False, "isEqual": True}
                for k, v in matchers.items()
            ],
            "startsAt": (starts_at or datetime.now(UTC)).isoformat(),
            "endsAt": ends_at.isoformat(),
            "createdBy": created_by,
            "comment": comment,
        }
        resp = await self._call("POST", "/silences", json=body)
        silence_id: str = resp.json()["silenceID"]
        return silence_id

    async def silences(self, filters: list[str]) -> list[dict[str, Any]]:
        """Silences whose matchers cover every matcher in ``filters``, in any state."""
        params = [("filter", f) for f in filters]
        found: list[dict[str, Any]] = (await self._call("GET", "/silences", params=params)).json()
        return found

    async def expire_silence(self, silence_id: str) -> None:
        await self._call("DELETE", f"/silence/{silence_id}")

"""The hub's JSON API under ``/api`` and its OpenAPI document at ``/openapi.json``.

Routes live by subject in ``hub.api_runs`` (connections, syncs, runs, activity), ``hub.api_links`` (linking, the
import list, import, export, per-record syncs, the report) and ``hub.api_records`` (home records, inbox, plugins). Each
carries an ``Operation`` that both checks its input and documents it (``hub.openapi``).
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from hub import api_connect, api_links, api_records, api_runs
from hub.openapi import openapi_route


def api_routes() -> list[BaseRoute]:
    """Every ``/api`` route, relative to the mount."""
    return [*api_runs.routes(), *api_connect.routes(), *api_links.routes(), *api_records.routes()]


__all__ = ["api_routes", "openapi_route"]

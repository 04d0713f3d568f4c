"""Seed 003's Contact Import list: the QuickBooks records a person can choose to bring into the hub.

'Show Sync'd' off lists only records never brought in (not linked on this connection); 'Show Hidden' on adds
records set to Inactive in QuickBooks. The chosen ones are imported with
``Scope(create_home=True, remote_ids=...)``, which links an exact-name match instead of duplicating it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.paths import get_path
from hub.store import Store, name_key
from hub.types import PageRequest, RemoteRecord
from plugins.quickbooks.system import QuickBooks


@dataclass(frozen=True)
class ImportCandidate:
    """One QuickBooks record on the import list: its Id, its name, and whether it is inactive or synced."""

    remote_id: str
    name: str
    hidden: bool
    """Set to Inactive in QuickBooks (imported as Hidden)."""
    synced: bool
    """Already linked to a home record on this connection."""
    home_id: str | None
    data: dict[str, Any]


async def import_candidates(
    store: Store, system: QuickBooks, *, show_synced: bool = False, show_hidden: bool = False, entity: str = "customer"
) -> list[ImportCandidate]:
    """The import list, by name: unsynced active records unless ``show_synced`` and ``show_hidden`` widen it."""
    records: list[RemoteRecord] = []
    token: str | None = None
    while True:
        page = await system.list_page(PageRequest(entity, token=token))
        records.extend(page.records)
        token = page.next_token
        if token is None:
            break
    linked = await store.links_by_remote(system.connection.name, entity, [record.id for record in records])
    links = {remote_id: link.home_id for remote_id, link in linked.items()}
    name_path = system.contract.entity(entity).remote_name
    candidates = [
        ImportCandidate(
            record.id,
            str(get_path(record.data, name_path) or ""),
            record.data.get("Active") is False,
            record.id in links,
            links.get(record.id),
            record.data,
        )
        for record in records
    ]
    shown = [c for c in candidates if (show_synced or not c.synced) and (show_hidden or not c.hidden)]
    return sorted(shown, key=lambda candidate: (name_key(candidate.name), candidate.remote_id))

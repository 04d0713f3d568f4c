"""Read-only views shared by the API and the command line: links with their unmatched records, and the import list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hub.contracts import EntityContract
from hub.paths import get_path
from hub.runtime import Hub
from hub.store import name_key
from hub.transforms import IDENTITY, build_transform
from hub.types import PageRequest, RemoteRecord, is_blank

LINKS_PAGE = 200
"""How many rows of the links listing one answer holds unless asked for another number."""
LINKS_PAGE_MAX = 1000
"""The most rows of the links listing one answer holds; the rest are a later page, never dropped."""


def remote_hidden(hub: Hub, contract: EntityContract) -> Callable[[dict[str, Any]], bool]:
    """How to tell from a remote record's data that it is hidden: its value for the home field ``hidden``.

    The contract's mapping of ``hidden`` says where the system keeps it and how it turns over (QuickBooks'
    ``Active`` is negated); a type that does not sync ``hidden`` has no hidden remote records.
    """
    try:
        mapping = contract.field("hidden")
    except KeyError:
        return lambda _data: False
    transform = build_transform(mapping.transform, hub.registry.transforms) or IDENTITY
    return lambda data: transform.to_home(get_path(data, mapping.remote)) is True


async def link_rows(
    hub: Hub,
    connection: str,
    *,
    entity: str | None = None,
    show: str = "all",
    search: str = "",
    show_hidden: bool = True,
) -> list[dict[str, Any]]:
    """Linked pairs, unmatched home and remote records, and the review queue, filtered by state, name and hidden.

    A row is hidden when its home record is hidden or its remote record is (inactive, for QuickBooks); with
    ``show_hidden`` off such rows are left out.
    """
    contract = hub.registry.contracts[hub.connection(connection).plugin]
    entities = [entity] if entity else sorted(contract.entities)
    needle = search.casefold()
    rows: list[dict[str, Any]] = []
    for name in entities:
        hidden_remote = remote_hidden(hub, contract.entity(name))
        if show in ("all", "linked"):
            links = await hub.store.list_links(connection, name)
            homes = await hub.store.records(link.home_id for link in links)
            for link in links:
                home = homes.get(link.home_id)
                home_name = home.name if home else ""
                remote_name = str(link.remote_snapshot.get("name", ""))
                if needle and needle not in home_name.casefold() and needle not in remote_name.casefold():
                    continue
                # The snapshot holds the remote values already in the home side's form.
                hidden = bool(home and home.hidden) or link.remote_snapshot.get("hidden") is True
                rows.append(
                    {
                        "entity": name,
                        "state": f"linked ({link.how})",
                        "home_id": link.home_id,
                        "home_name": home_name,
                        "remote_id": link.remote_id,
                        "remote_name": remote_name,
                        "hidden": hidden,
                        "last_synced_at": link.last_synced_at,
                        "reason": "",
                    }
                )
        if show in ("all", "unmatched", "review"):
            for row in await hub.store.unlinked_remote(connection, name, search=search, review_only=show == "review"):
                rows.append(
                    {
                        "entity": name,
                        "state": "review" if row["candidates"] else "unmatched remote",
                        "home_id": None,
                        "home_name": "",
                        "remote_id": row["remote_id"],
                        "remote_name": row["name"],
                        "hidden": hidden_remote(row["data"]),
                        "reason": row["reason"],
                        "candidates": row["candidates"],
                    }
                )
        if show in ("all", "unmatched"):
            for home in await hub.store.unlinked_home(connection, name, search=search):
                rows.append(
                    {
                        "entity": name,
                        "state": "unmatched home",
                        "home_id": home.id,
                        "home_name": home.name,
                        "remote_id": None,
                        "remote_name": "",
                        "hidden": home.hidden,
                        "reason": "no link on this connection",
                    }
                )
    return rows if show_hidden else [row for row in rows if not row["hidden"]]


async def link_page(
    hub: Hub,
    connection: str,
    *,
    entity: str | None = None,
    show: str = "all",
    search: str = "",
    show_hidden: bool = True,
    limit: int | None = LINKS_PAGE,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """Rows ``offset`` to ``offset + limit`` (or to the end) of the filtered links listing, in its order, and how many
    it has in all."""
    rows = await link_rows(hub, connection, entity=entity, show=show, search=search, show_hidden=show_hidden)
    return rows[offset : None if limit is None else offset + limit], len(rows)


async def import_candidates(
    hub: Hub, connection: str, entity: str, *, show_synced: bool = False, show_hidden: bool = False
) -> list[dict[str, Any]]:
    """The import list (seed 003): remote records a person can bring in, by name, read live from the system.

    Without ``show_synced`` only records never brought in (not linked on the connection) are listed; without
    ``show_hidden`` records hidden remotely (inactive in QuickBooks) are left out.
    """
    contract = hub.registry.contracts[hub.connection(connection).plugin].entity(entity)
    system = hub.system(connection)
    records: dict[str, RemoteRecord] = {}
    token: str | None = None
    while True:
        page = await system.list_page(PageRequest(entity, token=token))
        records.update((record.id, record) for record in page.records if not record.deleted)
        token = page.next_token
        if token is None:
            break
    links = await hub.store.links_by_remote(connection, entity, list(records))
    hidden = remote_hidden(hub, contract)
    rows = [
        {
            "entity": entity,
            "remote_id": record.id,
            "name": _text(get_path(record.data, contract.remote_name)),
            "hidden": hidden(record.data),
            "synced": record.id in links,
            "home_id": links[record.id].home_id if record.id in links else None,
        }
        for record in records.values()
    ]
    shown = [row for row in rows if (show_synced or not row["synced"]) and (show_hidden or not row["hidden"])]
    return sorted(shown, key=lambda row: (name_key(row["name"]), row["remote_id"]))


def _text(value: Any) -> str:
    return "" if is_blank(value) else str(value)

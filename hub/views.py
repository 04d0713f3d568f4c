"""Read-only views shared by the API and the command line: links with their unmatched records, searchable."""

from __future__ import annotations

from typing import Any

from hub.runtime import Hub


async def link_rows(hub: Hub, connection: str, *, entity: str | None = None, show: str = "all",
                    search: str = "") -> list[dict[str, Any]]:
    """Linked pairs, unmatched home and remote records, and the review queue, filtered by state and name."""
    contract = hub.registry.contracts[hub.connection(connection).plugin]
    entities = [entity] if entity else sorted(contract.entities)
    needle = search.casefold()
    rows: list[dict[str, Any]] = []
    for name in entities:
        contract.entity(name)
        if show in ("all", "linked"):
            links = await hub.store.list_links(connection, name)
            homes = await hub.store.records(link.home_id for link in links)
            for link in links:
                home = homes.get(link.home_id)
                home_name = home.name if home else ""
                remote_name = str(link.remote_snapshot.get("name", ""))
                if needle and needle not in home_name.casefold() and needle not in remote_name.casefold():
                    continue
                rows.append({"entity": name, "state": f"linked ({link.how})", "home_id": link.home_id,
                             "home_name": home_name, "remote_id": link.remote_id, "remote_name": remote_name,
                             "last_synced_at": link.last_synced_at, "reason": ""})
        if show in ("all", "unmatched", "review"):
            for row in await hub.store.unlinked_remote(connection, name, search=search,
                                                       review_only=show == "review"):
                state = "review" if row["candidates"] else "unmatched remote"
                rows.append({"entity": name, "state": state, "home_id": None, "home_name": "",
                             "remote_id": row["remote_id"], "remote_name": row["name"], "reason": row["reason"],
                             "candidates": row["candidates"]})
        if show in ("all", "unmatched"):
            for home in await hub.store.unlinked_home(connection, name, search=search, limit=1000):
                rows.append({"entity": name, "state": "unmatched home", "home_id": home.id, "home_name": home.name,
                             "remote_id": None, "remote_name": "", "reason": "no link on this connection"})
    return rows

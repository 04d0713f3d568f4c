"""Linking by hand: tie a home record to a remote one, untie them, and report linked pairs side by side."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from hub.contracts import EntityContract
from hub.errors import HubError
from hub.paths import get_path
from hub.store import HomeRecord, Link, Store, iso, name_key
from hub.types import RemoteRecord, is_blank

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet takes for the start of a formula (OWASP, "CSV Injection")."""


class LinkRefused(HubError):
    """A manual link or delink that cannot be made, with the reason."""


async def link_by_hand(store: Store, connection: str, contract: EntityContract, home_id: str, remote_id: str, *,
                       actor: str, at: datetime, how: str = "manual") -> Link:
    """Link two records a person chose or asked for by name; the next sync of the pair applies the first-sync rules."""
    entity = contract.name
    home = await store.record(home_id)
    if home is None or home.deleted_at or home.entity != entity:
        raise LinkRefused(f"no home {entity} with id {home_id!r}")
    if await store.links_by_home(connection, entity, [home_id]):
        raise LinkRefused(f"home {entity} {home.name!r} is already linked on {connection}; delink it first")
    if await store.links_by_remote(connection, entity, [remote_id]):
        raise LinkRefused(f"remote {entity} {remote_id!r} is already linked on {connection}; delink it first")
    # The remote name, as the unmatched list showed it, so a delink before any sync lists the record by name again.
    seen = await store.fetchone(
        "SELECT name FROM unlinked_remote WHERE connection = ? AND entity = ? AND remote_id = ?",
        (connection, entity, remote_id),
    )
    snapshot = {"name": seen[0]} if seen and seen[0] else {}
    link = Link(0, connection, entity, home_id, remote_id, None, how, None, None, snapshot, {}, None,
                iso(at) or "", None)
    async with store.transaction() as tx:
        await store.insert_link(tx, link)
        await store.drop_unlinked(tx, connection, entity, remote_id)
        await tx.execute("DELETE FROM delinked WHERE connection = ? AND entity = ? AND home_id = ? AND remote_id = ?",
                         (connection, entity, home_id, remote_id))
    await store.log(actor, "link", f"{connection}: linked {entity} {home.name!r} to remote {remote_id}",
                    connection=connection, at=at)
    return link


async def link_same_name(store: Store, connection: str, contract: EntityContract, home: HomeRecord, *,
                         system: str, actor: str, at: datetime) -> Link | None:
    """Link a home record to the one unlinked remote record of its exact name; None if the contract never matches so."""
    rule = next((rule for rule in contract.match if rule["type"] == "exact_name"), None)
    if rule is None:
        return None
    entity, name = contract.name, home.name
    rows = await store.unlinked_remote(connection, entity, named=name) if name_key(name) else []
    if not rule.get("case_insensitive", True):
        rows = [row for row in rows if row["name"] == name]
    if not rows:
        raise LinkRefused(f"{entity} {name!r} is not linked on {connection}, and no {system} {entity} named {name!r} "
                          f"is known to the hub: sync the {entity} list to find it, or export the record to create it")
    if len(rows) > 1:
        raise LinkRefused(f"{entity} {name!r} is not linked on {connection}, and {len(rows)} {system} {entity} "
                          f"records are named {name!r}: link one by hand")
    (row,) = rows
    remote_id = row["remote_id"]
    if set(row["candidates"]) - {home.id}:
        raise LinkRefused(f"{system} {entity} {remote_id} named {name!r} waits in the review queue (several home "
                          "records claim it): link one by hand")
    if await store.delinked_pairs(connection, entity, [remote_id]) & {(home.id, remote_id)}:
        raise LinkRefused(f"{entity} {name!r} was delinked from {system} {entity} {remote_id}, so matching never "
                          "joins them again: link them by hand")
    return await link_by_hand(store, connection, contract, home.id, remote_id, actor=actor, at=at, how="matched")


async def remember_found(store: Store, connection: str, contract: EntityContract, found: list[RemoteRecord], *,
                         system: str, at: datetime) -> int:
    """Keep remote records a look-up by name found as unmatched ones (not those linked already), so linking by exact
    name finds them as it finds a listed record; a record already known keeps its place in the review queue. Returns
    how many are unlinked."""
    entity = contract.name
    linked = await store.links_by_remote(connection, entity, [record.id for record in found])
    fresh = [record for record in found if record.id not in linked and not record.deleted]
    if not fresh:
        return 0
    known = {row["remote_id"]: row for record in fresh
             for row in await store.unlinked_remote(connection, entity, named=_name_of(contract, record))}
    rows = []
    for record in fresh:
        row = known.get(record.id)
        reason = row["reason"] if row else f"unmatched: found in {system} by its name"
        rows.append((record.id, _name_of(contract, record), record.data, iso(record.modified_at), reason,
                     row["candidates"] if row else []))
    async with store.transaction() as tx:
        await store.put_unlinked_many(tx, connection, entity, rows, at)
    return len(rows)


def _name_of(contract: EntityContract, record: RemoteRecord) -> str:
    name = get_path(record.data, contract.remote_name)
    return "" if is_blank(name) else str(name)


async def delink(store: Store, connection: str, entity: str, *, home_id: str | None = None,
                 remote_id: str | None = None, actor: str, at: datetime) -> Link:
    """Untie a link (named by either side); both records stay, and matching never ties this pair again."""
    if home_id:
        found = await store.links_by_home(connection, entity, [home_id])
    elif remote_id:
        found = await store.links_by_remote(connection, entity, [remote_id])
    else:
        raise LinkRefused("name the home id or the remote id of the link to remove")
    if not found:
        raise LinkRefused(f"no {entity} link on {connection} for {home_id or remote_id!r}")
    (link,) = found.values()
    async with store.transaction() as tx:
        await store.delete_link(tx, link.id)
        await tx.execute("INSERT OR REPLACE INTO delinked (connection, entity, home_id, remote_id, at) "
                         "VALUES (?, ?, ?, ?, ?)", (connection, entity, link.home_id, link.remote_id, iso(at)))
        # The remote record is unmatched again from now, not only once a pull happens to list it.
        await store.put_unlinked_many(tx, connection, entity, [(
            link.remote_id, str(link.remote_snapshot.get("name", "")), {}, link.remote_modified,
            f"delinked by {actor}: link it by hand or import it", [],
        )], at)
    await store.log(actor, "delink", f"{connection}: delinked {entity} {link.home_id} from remote {link.remote_id}",
                    connection=connection, at=at)
    return link


REPORT_COLUMNS = {"email": "Primary Email"}
"""Report column names that are not the field's own: the one email a hub record keeps is its primary email, as
seed 002's report calls it ("Liscio Contact Primary Email")."""


async def report_csv(store: Store, connection: str, contract: EntityContract, system_title: str) -> str:
    """Linked pairs as CSV: the home name and synced fields beside the remote name and fields as last synced."""
    fields = [m.home for m in contract.fields]
    out = io.StringIO()
    writer = csv.writer(out)
    label = contract.name.replace("_", " ").title()
    columns = [REPORT_COLUMNS.get(f, f.replace("_", " ").title()) for f in fields]
    writer.writerow([f"Hub {label} Name", *(f"Hub {label} {c}" for c in columns),
                     f"{system_title} {label} Name", *(f"{system_title} {label} {c}" for c in columns)])
    links = await store.list_links(connection, contract.name)
    homes = await store.records(link.home_id for link in links)
    for link in links:
        home = homes.get(link.home_id)
        if home is None:
            continue
        remote_name = link.remote_snapshot.get("name", "")
        writer.writerow([_cell(home.name), *(_cell(_text(home.fields.get(f))) for f in fields), _cell(remote_name),
                         *(_cell(_text(link.remote_snapshot.get(f))) for f in fields)])
    return out.getvalue()


def _cell(text: str) -> str:
    """A cell a spreadsheet shows as text: one starting with = + - @ (or tab, CR) gets a leading single quote."""
    # OWASP's advice on CSV injection: a spreadsheet would otherwise run such a cell as a formula.
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(str(v) for v in value.values() if v)
    return str(value)

"""References to home records: a reference field's value, or a key inside each line of a plugin-transformed list.

A plugin transform sees only a value, never the link table. So a contract declares the references inside a list
value (``{"type": "plugin", "name": "qbo_lines", "references": {"item": "item"}}``) and the engine resolves
them around the transform: on the way out, each line's home record id becomes the remote id it is linked to
(through its proxy, seed 004); on the way in, each remote id becomes the home record linked to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.contracts import Contract, FieldMapping
from hub.errors import RecordError
from hub.store import Store
from hub.types import is_blank


def line_label(entity: str, number: int) -> str:
    """How an error names one line of a record: ``invoice line 2``, ``ship doc line 1``."""
    return f"{entity.replace('_', ' ')} line {number}"


@dataclass(frozen=True)
class References:
    """Resolves references to home records for one connection, whose links and contract it reads."""

    store: Store
    connection: str
    contract: Contract

    async def remote_id(self, target: str, home_id: Any, *, field: str, where: str = "") -> str:
        """A home record id as the remote id it is linked to, through its proxy if it names one; RecordError
        (prefixed with ``where``) when there is no such home record or it is not linked yet."""
        prefix = f"{where}: " if where else ""
        record = await self.store.record(str(home_id))
        if record is None:
            raise RecordError(f"{prefix}{field} refers to {home_id}, which is not a home {target}")
        proxy_field = self.contract.entity(target).proxy_field
        if proxy_field and not is_blank(record.fields.get(proxy_field)):
            record = await self.store.record(str(record.fields[proxy_field])) or record
        link = (await self.store.links_by_home(self.connection, target, [record.id])).get(record.id)
        if link is None:
            raise RecordError(f"{prefix}{target} {record.name!r} is not linked to {self.contract.system} yet")
        return link.remote_id

    async def home_id(self, target: str, remote_id: Any) -> str | None:
        """The home record linked to a remote id, if any."""
        if is_blank(remote_id):
            return None
        link = (await self.store.links_by_remote(self.connection, target, [str(remote_id)])).get(str(remote_id))
        return link.home_id if link else None

    async def lines_to_remote(self, entity: str, mapping: FieldMapping, lines: Any) -> Any:
        """Home lines with each declared key's home id swapped for the remote id; the lines are not changed."""
        if not isinstance(lines, list):
            return lines
        sent = []
        for number, line in enumerate(lines, start=1):
            if isinstance(line, dict):
                line = dict(line)
                for key, target in mapping.references.items():
                    if not is_blank(line.get(key)):
                        line[key] = await self.remote_id(target, line[key], field=key,
                                                         where=line_label(entity, number))
            sent.append(line)
        return sent

    async def lines_to_home(self, entity: str, mapping: FieldMapping, lines: Any) -> Any:
        """Lines a plugin transform brought in, each declared key's remote id swapped for the linked home id;
        RecordError names the first line whose remote id no home record is linked to (never a guess)."""
        if not isinstance(lines, list):
            return lines
        found: dict[str, dict[str, str]] = {}
        for key, target in mapping.references.items():
            ids = {str(line[key]) for line in lines if isinstance(line, dict) and not is_blank(line.get(key))}
            links = await self.store.links_by_remote(self.connection, target, ids) if ids else {}
            found[key] = {remote_id: link.home_id for remote_id, link in links.items()}
        read = []
        for number, line in enumerate(lines, start=1):
            if isinstance(line, dict):
                line = dict(line)
                for key, target in mapping.references.items():
                    if not is_blank(line.get(key)):
                        line[key] = self._linked_home(entity, number, target, str(line[key]), found[key])
            read.append(line)
        return read

    def _linked_home(self, entity: str, number: int, target: str, remote_id: str, linked: dict[str, str]) -> str:
        if remote_id not in linked:
            remote_type = self.contract.entity(target).remote_type
            raise RecordError(
                f"{line_label(entity, number)}: {self.contract.system} {remote_type} Id {remote_id!r} is not linked "
                f"to a home {target}; import it or link it to one, then sync again"
            )
        return linked[remote_id]

    async def lines_as_home_reads_them(self, mapping: FieldMapping, ours: Any, theirs: Any) -> Any:
        """Seed 004: a line for an item behind a proxy is recorded as the proxy. Read back, the line at the same
        position as the home record's own line, naming the proxy its item stands behind, names that item."""
        if not isinstance(ours, list) or not isinstance(theirs, list):
            return theirs
        read = []
        for own, line in zip(ours, theirs, strict=False):
            if isinstance(own, dict) and isinstance(line, dict):
                line = dict(line)
                for key, target in mapping.references.items():
                    if await self.stands_behind(target, own.get(key), line.get(key)):
                        line[key] = own[key]
            read.append(line)
        return read + theirs[len(read):]

    async def stands_behind(self, target: str, ours: Any, theirs: Any) -> bool:
        """Whether home record ``ours`` names ``theirs`` as its proxy."""
        proxy_field = self.contract.entity(target).proxy_field
        if not proxy_field or is_blank(ours) or is_blank(theirs) or ours == theirs:
            return False
        referred = await self.store.record(str(ours))
        return referred is not None and referred.fields.get(proxy_field) == theirs

"""Load a plugin's JSON contract, check it against the schema and the rules a schema cannot say, and model it."""

from __future__ import annotations

import json
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any, get_args

from jsonschema import Draft202012Validator

from hub.errors import ContractError, UnknownEntity
from hub.types import CreateRule, Direction, Phase, Rule

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
SCHEMA_PATH = CONTRACTS_DIR / "contract.schema.json"
DEFAULT_VERIFIER = "standard-webhooks"
"""The signature scheme of a contract whose ``webhook`` names none (issue 3: hub-defined APIs and third parties)."""

# Pairs of rules (to_home, to_remote) that can never both write in one sync: each write needs a blank that
# the other one's write rules out, or both compare the same two change times. Any other pair with no 'never'
# could make both sides overwrite each other, so the contract is refused.
_COMPATIBLE = {frozenset({"fill_blank"}), frozenset({"newest"}), frozenset({"fill_blank", "overwrite"})}
_RULES = frozenset(get_args(Rule))
_CREATE_RULES = get_args(CreateRule)


@dataclass(frozen=True)
class FieldRules:
    """The overwrite rule for each direction in one phase."""

    to_home: Rule
    to_remote: Rule

    def rule(self, direction: Direction) -> Rule:
        """The rule for one direction."""
        return self.to_home if direction == "to_home" else self.to_remote


@dataclass(frozen=True)
class FieldMapping:
    """One home field, the remote path it maps to, its transform and its rules per phase."""

    home: str
    remote: str
    first_sync: FieldRules
    later_sync: FieldRules
    transform: dict[str, Any] | None = None

    def rules(self, phase: Phase) -> FieldRules:
        """The rules for the first sync of a link or a later one."""
        return self.first_sync if phase == "first" else self.later_sync

    @cached_property
    def references(self) -> dict[str, str]:
        """For a plugin transform over lines: the key in each line that names a home record, and its entity type
        (worked out once: every pulled record asks, for every field)."""
        return dict((self.transform or {}).get("references") or {})


@dataclass(frozen=True)
class EntityContract:
    """Everything the engine needs to know about one entity type of one system."""

    name: str
    remote_type: str
    remote_id: str
    remote_name: str
    fields: tuple[FieldMapping, ...]
    match: tuple[dict[str, Any], ...]
    create_to_home: CreateRule
    create_to_remote: CreateRule
    create_option: str | None = None
    create_to_remote_option: str | None = None
    """A connection option whose value (a create rule) replaces ``create_to_remote`` (``create.to_remote_option``)."""
    create_with_all_fields: bool = True
    remote_modified: str | None = None
    remote_version: str | None = None
    link_key_home: str | None = None
    link_key_remote: str | None = None
    link_key_assigned_by: str = "home"
    exclude_when: tuple[dict[str, Any], ...] = ()
    available_when: tuple[dict[str, Any], ...] = ()
    proxy_field: str | None = None
    remote_deletes: str = "ignore"
    on_home_delete: str = "delink"
    """What deleting a linked home record does remotely: ``delink`` only, or ``deactivate`` the remote record too."""
    pull_only: bool = False
    never_sync_fields: tuple[str, ...] = ()
    name_sync: FieldMapping | None = None
    """The display name's rules after creation, as a mapping of home ``name``; None when names never sync."""
    sync_when_option: str | None = None
    sync_when_equals: Any = True
    list_sync: str = "any_user"
    """Who may sync this type's list through the API: ``any_user`` (seed 001's Clients list), or ``admins``."""
    home_defaults: tuple[tuple[str, str], ...] = ()
    """``(home field, option)``: a new home record without the field takes the option's entry for this type."""

    def field(self, home: str) -> FieldMapping:
        """The mapping of one home field; KeyError when the contract does not sync it."""
        for mapping in self.fields:
            if mapping.home == home:
                return mapping
        raise KeyError(home)

    def create_rule_to_remote(self, options: dict[str, Any]) -> CreateRule:
        """The create rule toward the system, once the connection's options have had their say."""
        rule = self.create_to_remote
        if self.create_to_remote_option and options.get(self.create_to_remote_option) in _CREATE_RULES:
            rule = options[self.create_to_remote_option]
        if self.create_option and options.get(self.create_option) and rule == "on_request":
            return "auto"
        return rule

    def new_record_defaults(self, options: dict[str, Any]) -> dict[str, tuple[Any, str]]:
        """The values a new home record of this type starts with where its creator gave none, each with the option
        it comes from (``home_defaults``; QuickBooks' NC Only preference)."""
        found: dict[str, tuple[Any, str]] = {}
        for home, option in self.home_defaults:
            table = options.get(option)
            if isinstance(table, dict) and self.name in table:
                found[home] = (table[self.name], option)
        return found

    @property
    def synced_fields(self) -> tuple[FieldMapping, ...]:
        """Every mapping the merge walks: the fields, plus the name where the contract gives it rules."""
        return (*self.fields, self.name_sync) if self.name_sync else self.fields

    def enabled(self, options: dict[str, Any]) -> bool:
        """Whether the connection's options let this entity type sync at all (``sync_when_option``)."""
        return self.sync_when_option is None or options.get(self.sync_when_option) == self.sync_when_equals


@dataclass(frozen=True)
class Contract:
    """A validated contract: the plugin it belongs to, its file, and its entity types."""

    path: Path
    plugin: str
    system: str
    api: str
    entities: dict[str, EntityContract]
    webhook_verifier: str | None = None
    """None when the system sends no webhooks (the contract has no ``webhook``)."""
    webhook_secret_env: str | None = None
    """The environment variable holding the signing secret when a connection names no ``webhook*`` secret."""
    limits: dict[str, int] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def entity(self, name: str) -> EntityContract:
        """One entity type; a clear error naming the known ones otherwise."""
        try:
            return self.entities[name]
        except KeyError:
            known = ", ".join(sorted(self.entities))
            raise UnknownEntity(f"{self.plugin} has no entity type {name!r} (it has: {known})") from None

    def default_options(self) -> dict[str, Any]:
        """Every declared option at its default."""
        return {name: spec["default"] for name, spec in self.options.items()}

    def option_problems(self, name: str, value: Any) -> list[str]:
        """What is wrong with a connection's value for one declared option, beyond its type: a value outside the
        option's ``values``, or (an option of ``home_defaults``, a table by entity type) an entry for a type that
        takes no default from it. Each problem starts with the key at fault below the option, if any."""
        spec = self.options.get(name, {})
        users = sorted(e.name for e in self.entities.values() if any(o == name for _, o in e.home_defaults))
        entries = value.items() if users and isinstance(value, dict) else [("", value)]
        problems = []
        for key, entry in entries:
            where = f".{key}" if key else ""
            if users and key and key not in users:
                problems.append(f"{where}: no entity type {key!r} takes a default from {name} "
                                f"(it gives one to: {', '.join(users)})")
            elif "values" in spec and not any(_same_value(entry, allowed) for allowed in spec["values"]):
                listed = ", ".join(json.dumps(allowed) for allowed in spec["values"])
                problems.append(f"{where}: must be one of {listed}, got {json.dumps(entry)}")
        return problems


def _same_value(value: Any, allowed: Any) -> bool:
    """Equal and of one kind: ``1`` is not ``true``."""
    return type(value) is type(allowed) and value == allowed


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems_in(
    path: Path, data: Any, *, transforms: Container[str] | None = None, verifiers: Container[str] | None = None
) -> list[str]:
    """Every problem with one contract document, each as ``FILE: /json/pointer: message``."""
    found = [
        (_pointer(error.absolute_path), _schema_message(error))
        for error in sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    ]
    # Semantic checks run even on a document the schema refused, so one pass lists every problem.
    found.extend(_semantic_problems(data, transforms, verifiers))
    return [f"{path}: {pointer}: {message}" for pointer, message in dict.fromkeys(found)]


def load_contract(
    path: Path, *, transforms: Container[str] | None = None, verifiers: Container[str] | None = None
) -> Contract:
    """Read, validate and model one contract file; ContractError lists every problem."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContractError([f"{path}: /: file not found"]) from None
    except json.JSONDecodeError as exc:
        raise ContractError([f"{path}: /: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from None
    problems = problems_in(Path(path), data, transforms=transforms, verifiers=verifiers)
    if problems:
        raise ContractError(problems)
    return _model(Path(path), data)


def check_files(paths: Iterable[Path], **known: Container[str] | None) -> list[str]:
    """Validate several contract files; every problem of every file, in order."""
    problems: list[str] = []
    for path in paths:
        try:
            load_contract(path, **known)
        except ContractError as exc:
            problems.extend(exc.problems)
    return problems


def _model(path: Path, data: dict[str, Any]) -> Contract:
    entities = {name: _entity(name, spec) for name, spec in data["entities"].items()}
    return Contract(
        path=path,
        plugin=data["plugin"],
        system=data["system"],
        api=data["api"],
        entities=entities,
        webhook_verifier=_verifier_of(data),
        webhook_secret_env=data.get("webhook", {}).get("secret_env"),
        limits=data.get("limits", {}),
        options=data.get("options", {}),
        raw=data,
    )


def _verifier_of(data: dict[str, Any]) -> Any:
    """The contract's signature scheme: the one ``webhook`` names, else the default; None without ``webhook``."""
    webhook = data.get("webhook")
    return _obj(webhook).get("verifier", DEFAULT_VERIFIER) if webhook is not None else None


def _entity(name: str, spec: dict[str, Any]) -> EntityContract:
    link_key = spec.get("link_key", {})
    filters = spec.get("filters", {})
    when = spec.get("sync_when_option", {})
    return EntityContract(
        name=name,
        remote_type=spec["remote_type"],
        remote_id=spec["remote_id"],
        remote_name=spec["name"]["remote"],
        fields=tuple(
            FieldMapping(
                home=f["home"],
                remote=f["remote"],
                first_sync=FieldRules(**f["first_sync"]),
                later_sync=FieldRules(**f["later_sync"]),
                transform=f.get("transform"),
            )
            for f in spec["fields"]
        ),
        match=tuple(spec["match"]),
        create_to_home=spec["create"]["to_home"],
        create_to_remote=spec["create"]["to_remote"],
        create_option=spec["create"].get("auto_when_option"),
        create_to_remote_option=spec["create"].get("to_remote_option"),
        create_with_all_fields=spec["create"].get("with_all_fields", True),
        remote_modified=spec.get("remote_modified"),
        remote_version=spec.get("remote_version"),
        link_key_home=link_key.get("home"),
        link_key_remote=link_key.get("remote"),
        link_key_assigned_by=link_key.get("assigned_by", "home"),
        exclude_when=tuple(filters.get("exclude_when", ())),
        available_when=tuple(filters.get("available_when", ())),
        proxy_field=spec.get("proxy", {}).get("home"),
        remote_deletes=spec.get("remote_deletes", "ignore"),
        on_home_delete=spec.get("on_home_delete", "delink"),
        pull_only=spec.get("pull_only", False),
        never_sync_fields=tuple(spec.get("never_sync", {}).get("fields", ())),
        name_sync=_name_sync(spec["name"]),
        sync_when_option=when.get("option"),
        sync_when_equals=when.get("equals", True),
        list_sync=spec.get("list_sync", "any_user"),
        home_defaults=tuple((home, d["option"]) for home, d in spec.get("home_defaults", {}).items()),
    )


def _name_sync(spec: dict[str, Any]) -> FieldMapping | None:
    if "first_sync" not in spec:
        return None
    return FieldMapping(
        home="name",
        remote=spec["remote"],
        first_sync=FieldRules(**spec["first_sync"]),
        later_sync=FieldRules(**spec["later_sync"]),
    )


def _semantic_problems(
    data: Any, transforms: Container[str] | None, verifiers: Container[str] | None
) -> Iterable[tuple[str, str]]:
    """What the schema cannot say: rule pairs that fight, dangling names, duplicate fields.

    Written to read documents the schema refused too: a part with the wrong shape is skipped, not trusted.
    """
    if not isinstance(data, dict):
        return
    verifier = _verifier_of(data)
    if verifiers is not None and isinstance(verifier, str) and verifier and verifier not in verifiers:
        yield "/webhook/verifier", f"unknown signature scheme {verifier!r}; registered: {_listed(verifiers)}"
    options = _obj(data.get("options"))
    entities = _obj(data.get("entities"))
    for name, entity in entities.items():
        if isinstance(entity, dict):
            yield from _entity_problems(_pointer(["entities", name]), entity, entities, options, transforms)


def _entity_problems(
    base: str,
    entity: dict[str, Any],
    entities: dict[str, Any],
    options: dict[str, Any],
    transforms: Container[str] | None,
) -> Iterable[tuple[str, str]]:
    create = _obj(entity.get("create"))
    option = create.get("auto_when_option")
    if isinstance(option, str) and option not in options:
        yield f"{base}/create/auto_when_option", f"option {option!r} is not declared under /options"
    gate = _obj(entity.get("sync_when_option")).get("option")
    if isinstance(gate, str) and gate not in options:
        yield f"{base}/sync_when_option/option", f"option {gate!r} is not declared under /options"
    yield from _to_remote_option_problems(f"{base}/create", create, options)
    for home, default in _obj(entity.get("home_defaults")).items():
        named = _obj(default).get("option")
        if isinstance(named, str) and named not in options:
            yield f"{base}/home_defaults/{home}/option", f"option {named!r} is not declared under /options"
        elif isinstance(named, str) and not isinstance(_obj(options[named]).get("default"), dict):
            yield f"{base}/home_defaults/{home}/option", (
                f"option {named!r} gives defaults by entity type, so its default must be a table such as {{}}")
    pull_only = entity.get("pull_only") is True
    if pull_only and create.get("to_remote") in ("auto", "on_request"):
        yield f"{base}/create/to_remote", "a pull_only entity cannot create remote records; use 'never'"
    if pull_only and "to_remote_option" in create:
        yield f"{base}/create/to_remote_option", "a pull_only entity cannot create remote records; remove it"
    if pull_only and entity.get("on_home_delete") == "deactivate":
        yield f"{base}/on_home_delete", "a pull_only entity writes nothing remotely; use 'delink'"
    for index, rule in enumerate(_seq(entity.get("match"))):
        if isinstance(rule, dict) and rule.get("type") == "link_key" and "link_key" not in entity:
            yield f"{base}/match/{index}", "matches on link_key but the entity declares no link_key"
    never = {str(f) for f in _seq(_obj(entity.get("never_sync")).get("fields"))}
    name = _obj(entity.get("name"))
    if "name" in never and any(rule not in (None, "never") for rule in _rules_of(name)):
        yield f"{base}/name", "the name is listed under never_sync/fields, yet its rules write it; drop one of them"
    yield from _rule_problems(f"{base}/name", name, pull_only)
    seen: set[str] = set()
    for index, mapping in enumerate(_seq(entity.get("fields"))):
        if isinstance(mapping, dict):
            yield from _field_problems(f"{base}/fields/{index}", mapping, seen, never, entities, transforms)
            yield from _rule_problems(f"{base}/fields/{index}", mapping, pull_only)


def _to_remote_option_problems(
    where: str, create: dict[str, Any], options: dict[str, Any]
) -> Iterable[tuple[str, str]]:
    """An option that picks the create rule toward the system: declared, its values create rules, and its default
    the ``to_remote`` written beside it, so the contract reads as it behaves until a connection says otherwise."""
    named = create.get("to_remote_option")
    if not isinstance(named, str):
        return
    spec = _obj(options.get(named))
    if named not in options:
        yield f"{where}/to_remote_option", f"option {named!r} is not declared under /options"
        return
    values = spec.get("values")
    if not isinstance(values, list) or not values or any(v not in _CREATE_RULES for v in values):
        yield f"/options/{named}/values", (
            f"option {named!r} picks a create rule, so list the rules it may take: some of {', '.join(_CREATE_RULES)}")
    if spec.get("default") != create.get("to_remote"):
        yield f"{where}/to_remote_option", (
            f"option {named!r} defaults to {spec.get('default')!r} but to_remote is {create.get('to_remote')!r}; "
            "make them the same")


def _field_problems(
    where: str,
    mapping: dict[str, Any],
    seen: set[str],
    never: set[str],
    entities: dict[str, Any],
    transforms: Container[str] | None,
) -> Iterable[tuple[str, str]]:
    home = mapping.get("home")
    if isinstance(home, str):
        if home in seen:
            yield f"{where}/home", f"field {home!r} is mapped twice"
        seen.add(home)
        if home in never:
            yield f"{where}/home", f"field {home!r} is listed under never_sync/fields"
        if home == "name":
            yield f"{where}/home", "the name is matched and shown, not synced as a field; map it under 'name'"
    transform = _obj(mapping.get("transform"))
    kind, named, target = transform.get("type"), transform.get("name"), transform.get("entity")
    if kind == "plugin" and isinstance(named, str) and transforms is not None and named not in transforms:
        known = _listed(transforms)
        yield f"{where}/transform/name", f"no plugin registers a transform named {named!r}; registered: {known}"
    if kind == "reference" and isinstance(target, str) and target not in entities:
        yield f"{where}/transform/entity", f"no entity type {target!r} in this contract"
    for key, referred in _obj(transform.get("references")).items():
        if kind == "plugin" and isinstance(referred, str) and referred not in entities:
            yield f"{where}/transform/references{_pointer([key])}", (
                f"no entity type {referred!r} in this contract; a reference names one of: {_listed(entities)}")


def _rule_problems(where: str, holder: dict[str, Any], pull_only: bool) -> Iterable[tuple[str, str]]:
    """Clashing pairs, and remote writes of a pull_only entity, in a field's (or the name's) two phases."""
    for phase in ("first_sync", "later_sync"):
        rules = _obj(holder.get(phase))
        to_home, to_remote = rules.get("to_home"), rules.get("to_remote")
        if pull_only and to_remote in _RULES and to_remote != "never":
            yield f"{where}/{phase}/to_remote", "a pull_only entity writes nothing remotely; use 'never'"
        if to_home in _RULES and to_remote in _RULES:
            clash = _clash(to_home, to_remote)
            if clash:
                yield f"{where}/{phase}", clash


def _rules_of(holder: dict[str, Any]) -> list[Any]:
    return [
        _obj(holder.get(phase)).get(way) for phase in ("first_sync", "later_sync") for way in ("to_home", "to_remote")
    ]


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _seq(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _clash(to_home: str, to_remote: str) -> str | None:
    pair = frozenset((to_home, to_remote))
    if "never" in pair or pair in _COMPATIBLE:
        return None
    return (
        f"to_home {to_home!r} and to_remote {to_remote!r} can both write in one sync; make one side 'never', "
        "use 'newest' on both, 'fill_blank' on both, or pair 'fill_blank' with 'overwrite'"
    )


def _pointer(path: Iterable[Any]) -> str:
    parts = [str(part).replace("~", "~0").replace("/", "~1") for part in path]
    return "/" + "/".join(parts)


def _schema_message(error: Any) -> str:
    if error.validator == "additionalProperties":
        return f"{error.message} (remove it, or check its spelling against contracts/contract.schema.json)"
    if error.validator == "oneOf" and isinstance(error.instance, dict) and "type" in error.instance:
        return f"{error.instance['type']!r} entry does not fit any of its allowed shapes: {error.message}"
    if error.validator == "required":
        return f"{error.message} (required here)"
    return error.message


def _listed(names: Container[str]) -> str:
    return ", ".join(sorted(names)) if isinstance(names, Iterable) else "?"

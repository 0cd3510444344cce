"""Source mappings: the typed model of configs/sources/<name>.yaml, loaded and checked for consistency."""

from __future__ import annotations

import zoneinfo
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, Field, ValidationError, field_validator, model_validator

from core.config import Demographic, Frozen, read_yaml_text
from core.schema import EVENT_FAMILIES, TABLES

SHARED_DATA_ENV = "JOURNEY_SHARED_DATA"
ACTIVITY = ("transactions", "events")
OPTIONAL_TABLES = ("transactions", "events", "stage_history", "campaigns")
ReadOption = str | int | float | bool | list[str] | dict[str, str]


def _sql_text(value: object) -> object:
    """YAML numbers and booleans as SQL literals, so `amount: 1` means the number one."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


def _names(value: object) -> object:
    return (value,) if isinstance(value, str) else value


Sql = Annotated[str, BeforeValidator(_sql_text)]


class DuckDBTable(Frozen):
    database: str = Field(description="DuckDB database file, relative to the data root")
    table: str = Field(description="[schema.]table")


class PostgresTable(Frozen):
    dsn_env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="env var holding the DSN")
    table: str = Field(description="[schema.]table")


class Source(Frozen):
    """Where rows come from: exactly one of a file, a DuckDB table or a PostgreSQL table."""

    file: str | None = None
    format: Literal["csv", "parquet"] | None = None
    read_options: dict[str, ReadOption] = Field(default_factory=dict)
    duckdb: DuckDBTable | None = None
    postgres: PostgresTable | None = None

    @property
    def file_format(self) -> Literal["csv", "parquet"]:
        if self.format is not None:
            return self.format
        return "parquet" if Path(self.file or "").suffix.lower() in (".parquet", ".pq") else "csv"

    def given(self) -> list[str]:
        return [key for key in ("file", "duckdb", "postgres") if getattr(self, key) is not None]


class Join(Source):
    """Another source left-joined to the main one on shared key columns (one row per key)."""

    alias: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    using: Annotated[tuple[str, ...], BeforeValidator(_names)] = Field(min_length=1)


class Filter(Frozen):
    """Keep rows where `keep` (DuckDB SQL) is true; the others are dropped and counted as `reason`."""

    keep: Sql
    reason: str


class Refunds(Frozen):
    """Rows where `when` holds are refunds/returns; `amounts` says how the source signs them."""

    when: Sql
    amounts: Literal["negative", "positive"] = "negative"


class Attribute(Frozen):
    """A customer attribute of a derived customers table: one value per customer from activity rows."""

    expression: Sql
    pick: Literal["most_frequent", "first", "last"] = "most_frequent"


class TableMapping(Source):
    """One contract table: a source (or, for customers, a derivation) plus how to map its columns."""

    joins: tuple[Join, ...] = ()
    columns: dict[str, Sql] = Field(default_factory=dict)
    where: tuple[Filter, ...] = ()
    timezone: str | None = None
    refunds: Refunds | None = None
    zero_amounts: Literal["ignore", "purchase"] = "ignore"  # transactions: is an amount-0 line a purchase?
    event_types: dict[str, str] = Field(default_factory=dict)
    derive_from: Literal["transactions", "events"] | None = None
    attributes: dict[str, Attribute] = Field(default_factory=dict)
    tenure_months: Sql | None = None

    @field_validator("event_types")
    @classmethod
    def _known_families(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted({family for family in value.values() if family not in EVENT_FAMILIES})
        if unknown:
            raise ValueError(f"unknown event families {unknown}; known: {list(EVENT_FAMILIES)}")
        return value


class SnapshotLabel(Source):
    """The churn label of a single-snapshot source: `expression` true/1 = churned, as of `as_of`.

    Without a source of its own it is read from the customers source (its joins and filters too).
    """

    as_of: date
    expression: Sql
    customer_id: Sql | None = None
    name: str = "churn"


class SourceMapping(Frozen):
    """A whole mapping: every contract table mapped or declared absent, plus demographics."""

    name: str = ""
    description: str = ""
    root: str = "data"
    timezone: str = "UTC"
    demographics: tuple[Demographic, ...] = ()
    absent: tuple[Literal["transactions", "events", "stage_history", "campaigns"], ...] = ()
    customers: TableMapping
    transactions: TableMapping | None = None
    events: TableMapping | None = None
    stage_history: TableMapping | None = None
    campaigns: TableMapping | None = None
    snapshot_label: SnapshotLabel | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SourceMapping:
        problems = _zone_problems(self) + _table_problems(self) + _customer_problems(self)
        if problems:
            raise ValueError("\n".join(problems))  # one problem per line, split again for the user
        return self

    def table(self, name: str) -> TableMapping | None:
        mapped: TableMapping | None = getattr(self, name)
        return mapped

    @property
    def mapped(self) -> dict[str, TableMapping]:
        """The contract tables this mapping reads, customers first."""
        return {name: t for name in TABLES if (t := self.table(name)) is not None}

    @property
    def zero_amount_orders(self) -> bool:
        """Whether amount-0 transaction lines count as purchases (free samples, fully paid by voucher)."""
        table = self.table("transactions")
        return table is not None and table.zero_amounts == "purchase"

    @property
    def single_snapshot(self) -> bool:
        """No activity history at all: only a customers table (and perhaps a snapshot label)."""
        return all(name in self.absent for name in ACTIVITY)

    def sources(self) -> dict[str, str]:
        """Per contract table, how messages name its source."""
        named = {name: describe(t) for name, t in self.mapped.items()}
        if self.customers.derive_from:
            named["customers"] = f"derived from {self.customers.derive_from}"
        return named


# --- mapping rules --------------------------------------------------------------------------------


def _zone_problems(mapping: SourceMapping) -> list[str]:
    zones = {"timezone": mapping.timezone}
    zones |= {f"{n}.timezone": t.timezone for n, t in mapping.mapped.items() if t.timezone}
    problems = []
    for key, zone in zones.items():
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            problems.append(f"{key}: unknown time zone {zone!r} (use an IANA name such as 'Europe/London')")
    return problems


def _table_problems(mapping: SourceMapping) -> list[str]:
    """Every contract table is mapped xor declared absent; table-specific keys stay in their table."""
    problems = []
    for name in OPTIONAL_TABLES:
        mapped = mapping.table(name) is not None
        if mapped and name in mapping.absent:
            problems.append(f"{name}: mapped and also listed in absent")
        elif not mapped and name not in mapping.absent and TABLES[name].must_exist:
            problems.append(f"{name}: neither mapped nor declared absent (absent: [{name}])")
    for name, table in mapping.mapped.items():
        problems += [f"{name}: {p}" for p in _source_problems(name, table)]
        problems += [f"{name}: {p}" for p in _column_problems(name, table, mapping.demographics)]
    return problems


def _source_problems(name: str, table: TableMapping) -> list[str]:
    given = table.given() + (["derive_from"] if table.derive_from else [])
    problems = [] if len(given) == 1 else [f"needs exactly one of file, duckdb, postgres; got {given}"]
    misplaced = {
        "refunds": name != "transactions" and table.refunds is not None,
        "zero_amounts": name != "transactions" and table.zero_amounts != "ignore",
        "event_types": name != "events" and bool(table.event_types),
        "derive_from": name != "customers" and table.derive_from is not None,
        "attributes": not table.derive_from and bool(table.attributes),
        "tenure_months": name != "customers" and table.tenure_months is not None,
    }
    problems += [f"{key!r} does not belong here" for key, wrong in misplaced.items() if wrong]
    if table.format is not None and table.file is None:
        problems.append("'format' only applies to a file")
    aliases = [join.alias for join in table.joins]
    if "src" in aliases or len(set(aliases)) < len(aliases):
        problems.append(f"join aliases must be unique and not 'src' (the main source): {aliases}")
    return problems


def _column_problems(name: str, table: TableMapping, demographics: tuple[Demographic, ...]) -> list[str]:
    """Targets are contract columns (customers: also declared demographics); required ones exist."""
    spec = TABLES[name]
    allowed = {*spec.required, *spec.optional} | (
        {d.name for d in demographics} if name == "customers" else set()
    )
    problems = [
        f"column {target!r} is not a column of the contract table (allowed: {sorted(allowed)})"
        for target in table.columns
        if target not in allowed
    ]
    if table.columns and not table.derive_from:
        given = set(table.columns) | ({"created_at"} if table.tenure_months else set())
        problems += [f"required column {c!r} is not mapped" for c in spec.required if c not in given]
    return problems


def _customer_problems(mapping: SourceMapping) -> list[str]:
    customers = mapping.customers
    declared = {d.name for d in mapping.demographics}
    produced = set(customers.attributes if customers.derive_from else customers.columns)
    problems = [
        f"customers: {a!r} is not a declared demographic"
        for a in sorted(set(customers.attributes) - declared)
    ]
    if customers.columns or customers.derive_from:
        problems += [
            f"demographic {d!r} is not produced by the customers mapping" for d in sorted(declared - produced)
        ]
    if customers.derive_from and customers.derive_from in mapping.absent:
        problems.append(f"customers: derive_from {customers.derive_from!r}, which is declared absent")
    if customers.derive_from and (customers.columns or customers.where or customers.joins):
        problems.append("customers: a derived table takes 'attributes', not columns, joins or where")
    if customers.tenure_months and mapping.snapshot_label is None:
        problems.append("customers: tenure_months needs snapshot_label.as_of to count back from")
    if customers.tenure_months and "created_at" in customers.columns:
        problems.append("customers: give created_at or tenure_months, not both")
    if mapping.snapshot_label is not None and not mapping.snapshot_label.given() and customers.derive_from:
        problems.append("snapshot_label: needs a source of its own when customers are derived")
    return problems


# --- loading -------------------------------------------------------------------------------------


class MappingError(ValueError):
    """A mapping file that cannot be used: names the file and every problem in it."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = tuple(problems)
        listed = "\n".join(f"- {problem}" for problem in problems)
        super().__init__(f"source mapping {path} is invalid:\n{listed}")


def mapping_path(name: str, configs_dir: Path) -> Path:
    """A mapping given by name (configs/sources/<name>.yaml) or as a path to a YAML file."""
    candidate = Path(name).expanduser()
    if candidate.suffix in (".yaml", ".yml") or len(candidate.parts) > 1:
        return candidate
    return configs_dir / "sources" / f"{name}.yaml"


def load_mapping(name: str, configs_dir: Path) -> SourceMapping:
    """Load and check one source mapping; unknown keys and inconsistent rules raise MappingError."""
    path = mapping_path(name, configs_dir)
    if not path.is_file():
        known = sorted(p.stem for p in (configs_dir / "sources").glob("*.yaml"))
        raise FileNotFoundError(f"source mapping {name!r} not found: expected {path}; available: {known}")
    try:
        raw = read_yaml_text(path)
    except ValueError as err:
        raise MappingError(path, [str(err).removeprefix(f"{path}").lstrip(": ")]) from None
    if not isinstance(raw, dict):
        raise MappingError(path, ["expected a mapping of keys at the top level"])
    raw.setdefault("name", path.stem)
    try:
        return SourceMapping.model_validate(raw)
    except ValidationError as error:
        raise MappingError(path, _problems(error)) from None


def _problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            problems.append(f"unknown key {where!r}; allowed here: {_allowed_keys(item['loc'])}")
        else:
            prefix = f"{where}: " if item["loc"] else ""
            lines = item["msg"].removeprefix("Value error, ").splitlines()
            problems += [f"{prefix}{line}" for line in lines]
        if item["type"] == "invalid_key" and isinstance(item["input"], bool):
            problems[-1] += (
                f" (the key read as {item['input']}: YAML reads unquoted on/off/yes/no as booleans)"
            )
    return problems


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys of the model that holds the last element of a pydantic error location."""
    current: Any = SourceMapping
    for part in loc[:-1]:
        fields = {k: f for m in _models_in(current) for k, f in m.model_fields.items()}
        if isinstance(part, str) and part in fields:
            current = fields[part].annotation
    return sorted({key for model in _models_in(current) for key in model.model_fields})


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in get_args(annotation) for model in _models_in(arg)]


def describe(source: Source) -> str:
    """How a source is named in messages: its file, DuckDB table or PostgreSQL table."""
    if source.file is not None:
        return source.file
    if source.duckdb is not None:
        return f"duckdb {source.duckdb.database}:{source.duckdb.table}"
    if source.postgres is not None:
        return f"postgres ${source.postgres.dsn_env}:{source.postgres.table}"
    return "derived"

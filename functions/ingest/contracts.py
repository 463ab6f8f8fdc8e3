"""Dataset contracts: what a landed file of a dataset must contain and how each column is treated.

One YAML file per dataset lives in ``datasets/`` next to this module; the first path segment of
a landed object's key names the dataset. A contract maps the headers a file may use (canonical
names and aliases, e.g. a Korean Excel export's 고객번호) to canonical columns, types them, and
says what happens to personal data: ``hmac`` (keyed pseudonym), ``drop`` or ``keep``.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ColumnType = Literal["string", "integer", "decimal", "timestamp", "date", "boolean"]
PiiAction = Literal["keep", "hmac", "drop"]
Normaliser = Literal["trim", "lower", "email", "name", "phone"]

DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class ContractError(ValueError):
    """A contract file is missing or invalid; the message names the file and the field."""


class _FieldError(ValueError):
    """A cross-field check failed; ``loc`` says which field (relative to the model checked).

    Errors raised by model validators are located at the model itself; the location is carried
    here so that a contract error can still name the field to fix.
    """

    def __init__(self, message: str, *loc: str | int) -> None:
        super().__init__(message)
        self.loc = loc


def header_token(header: str) -> str:
    """The form a header is matched in: NFKC, case-folded, without spaces, '_', '-', '.' and BOM."""
    text = unicodedata.normalize("NFKC", header).replace("\ufeff", "").casefold()
    return re.sub(r"[\s_\-.]+", "", text)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: ColumnType
    required: bool = False
    pii: PiiAction = "keep"
    normalise: Normaliser | None = None
    aliases: tuple[str, ...] = ()
    scale: int = Field(default=2, ge=0, le=18, description="digits after the point (decimal)")
    round: bool = Field(
        default=False,
        description="decimal: round values with more digits after the point than `scale` "
        "(half away from zero) instead of rejecting the row",
    )
    formats: tuple[str, ...] = Field(
        default=(
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
            "%Y/%m/%d %H:%M:%S",
            "%Y/%m/%d %H:%M",
            "%Y.%m.%d %H:%M:%S",
            "%Y.%m.%d %H:%M",
            # 12-hour clocks as Korean Excel (yyyy-mm-dd 오후 h:mm:ss) and Google Sheets
            # (2025. 6. 1 오후 1:05:00) write them; 오전/오후 are read as AM/PM
            "%Y-%m-%d %p %I:%M:%S",
            "%Y-%m-%d %p %I:%M",
            "%Y. %m. %d %p %I:%M:%S",
            "%Y. %m. %d. %p %I:%M:%S",
            "%Y-%m-%d %I:%M:%S %p",
            "%Y-%m-%d",
        ),
        description="strptime formats tried for naive timestamps/dates, in order",
    )
    true_values: tuple[str, ...] = ("y", "yes", "true", "t", "1", "예", "네", "o")
    false_values: tuple[str, ...] = ("n", "no", "false", "f", "0", "아니오", "아니요", "x")

    @model_validator(mode="after")
    def _coherent(self) -> Column:
        if self.normalise is not None and self.type != "string":
            raise _FieldError(f"normalise applies to string columns, not {self.type}", "normalise")
        if self.pii == "hmac" and self.type != "string":
            raise _FieldError(f"hmac applies to string columns, not {self.type}", "pii")
        if self.pii == "drop" and self.required:
            raise _FieldError("a dropped column cannot be required", "required")
        if self.round and self.type != "decimal":
            raise _FieldError(f"round applies to decimal columns, not {self.type}", "round")
        return self


class Partition(_Strict):
    column: str
    grain: Literal["day", "month"] = "day"

    @property
    def key(self) -> str:
        """The Hive-style partition column written into curated keys."""
        return "event_date" if self.grain == "day" else "event_month"


class DatasetContract(_Strict):
    dataset: str = Field(pattern=DATASET_NAME.pattern)
    description: str = ""
    timezone: str = "UTC"
    partition: Partition
    default_phone_region: str = "KR"
    max_reject_ratio: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="above this share of rejected rows the whole file is quarantined",
    )
    cluster_by: tuple[str, ...] = Field(
        default=(), description="columns rows are sorted by inside each partition file"
    )
    key: tuple[str, ...] = Field(
        default=(),
        description="columns that identify a row across files (e.g. transaction_id): a row "
        "whose key was already curated is counted as a duplicate, not written again",
    )
    columns: tuple[Column, ...] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("default_phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> DatasetContract:
        names: list[str] = []
        for i, column in enumerate(self.columns):
            if column.name in names:
                raise _FieldError(
                    f"column name {column.name!r} is used twice", "columns", i, "name"
                )
            names.append(column.name)
        seen: dict[str, str] = {}
        for i, column in enumerate(self.columns):
            for n, spelling in enumerate((column.name, *column.aliases)):
                token = header_token(spelling)
                where = ("name",) if n == 0 else ("aliases", n - 1)
                if not token:  # it would match blank headers
                    raise _FieldError(
                        f"header {spelling!r} has no letters or digits", "columns", i, *where
                    )
                if token in seen and seen[token] != column.name:
                    raise _FieldError(
                        f"header {spelling!r} of column {column.name!r} "
                        f"is already used by column {seen[token]!r}",
                        "columns",
                        i,
                        *where,
                    )
                seen[token] = column.name
        part = next((c for c in self.columns if c.name == self.partition.column), None)
        if part is None:
            raise _FieldError(
                f"partition column {self.partition.column!r} is not a column", "partition", "column"
            )
        if part.type not in ("timestamp", "date") or not part.required:
            raise _FieldError(
                f"the partition column must be a required timestamp or date; "
                f"{part.name!r} is {'a' if part.required else 'an optional'} {part.type}",
                "partition",
                "column",
            )
        unknown = [c for c in self.cluster_by if c not in names]
        if unknown:
            raise _FieldError(f"cluster_by names unknown columns {unknown}", "cluster_by")
        for name in self.key:
            key_column = next((c for c in self.columns if c.name == name), None)
            if key_column is None:
                raise _FieldError(f"key names unknown column {name!r}", "key")
            # the keys are kept in the curated zone's index: they must be required and not PII
            if not key_column.required or key_column.pii != "keep":
                raise _FieldError(
                    f"key column {name!r} must be required and kept as it is (pii: keep)", "key"
                )
        if len(set(self.key)) != len(self.key):
            raise _FieldError("key names a column twice", "key")
        return self

    @cached_property
    def by_token(self) -> dict[str, Column]:
        """Header token → column, for matching a file's header."""
        return {
            header_token(spelling): column
            for column in self.columns
            for spelling in (column.name, *column.aliases)
        }

    @property
    def hmac_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.pii == "hmac")


@dataclass(frozen=True)
class HeaderMapping:
    """How a file's header lines up with its contract."""

    source_headers: tuple[str, ...]
    columns: tuple[Column | None, ...]  # per source position; None = not in the contract
    missing_required: tuple[str, ...]
    missing_optional: tuple[str, ...]
    duplicates: tuple[str, ...]

    @property
    def ignored(self) -> tuple[str, ...]:
        return tuple(h for h, c in zip(self.source_headers, self.columns, strict=True) if c is None)


def map_header(contract: DatasetContract, headers: list[str]) -> HeaderMapping:
    """Line a file's header up with the contract (pure)."""
    columns: list[Column | None] = []
    found: dict[str, int] = {}
    duplicates: list[str] = []
    for header in headers:
        column = contract.by_token.get(header_token(header))
        if column is None and "\n" in header.strip():
            # an Excel header cell with a line break: the name, then a note (금액\n(원))
            column = contract.by_token.get(header_token(header.strip().splitlines()[0]))
        if column is not None and column.name in found:
            duplicates.append(column.name)
            column = None
        if column is not None:
            found[column.name] = len(columns)
        columns.append(column)
    missing = [c for c in contract.columns if c.name not in found]
    return HeaderMapping(
        source_headers=tuple(headers),
        columns=tuple(columns),
        missing_required=tuple(c.name for c in missing if c.required),
        missing_optional=tuple(c.name for c in missing if not c.required),
        duplicates=tuple(duplicates),
    )


def parse_contract(text: str, source: str) -> DatasetContract:
    """Validate contract YAML; errors name ``source`` and the offending field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ContractError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ContractError(f"{source}: a contract is a mapping with dataset, partition, columns")
    try:
        return DatasetContract.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            cause = error.get("ctx", {}).get("error")
            loc = (*error["loc"], *(cause.loc if isinstance(cause, _FieldError) else ()))
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key" + _did_you_mean(str(loc[-1]))
            problems.append(f"{source}: field {_field_path(data, loc)}: {message}")
        raise ContractError("\n".join(problems)) from exc


def _did_you_mean(key: str) -> str:
    known = {*DatasetContract.model_fields, *Column.model_fields, *Partition.model_fields}
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _field_path(data: object, loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location, naming list items by their `name` where there is one."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int) and isinstance(node, list) and item < len(node):
            node = node[item]
            name = node.get("name") if isinstance(node, dict) else None
            parts.append(f"[{item}]" + (f"({name})" if name else ""))
        else:
            node = node.get(item) if isinstance(node, dict) else None
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts) or "(top level)"


class ContractRegistry:
    """The contracts in a folder (by default the ones packaged with ingest), loaded on demand."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder
        self._cache: dict[str, DatasetContract] = {}

    def _text(self, dataset: str) -> tuple[str, str] | None:
        name = f"{dataset}.yaml"
        if self._folder is not None:
            path = self._folder / name
            return (path.read_text(encoding="utf-8"), str(path)) if path.is_file() else None
        resource = resources.files("ingest") / "datasets" / name
        if not resource.is_file():
            return None
        return resource.read_text(encoding="utf-8"), f"datasets/{name}"

    def get(self, dataset: str) -> DatasetContract | None:
        """The dataset's contract, or None when there is no such dataset."""
        if not DATASET_NAME.fullmatch(dataset):
            return None
        if dataset not in self._cache:
            found = self._text(dataset)
            if found is None:
                return None
            contract = parse_contract(*found)
            if contract.dataset != dataset:
                raise ContractError(
                    f"{found[1]}: field dataset: says {contract.dataset!r}, file is for {dataset!r}"
                )
            self._cache[dataset] = contract
        return self._cache[dataset]

    def names(self) -> list[str]:
        root = self._folder if self._folder is not None else resources.files("ingest") / "datasets"
        return sorted(
            p.name.removesuffix(".yaml") for p in root.iterdir() if p.name.endswith(".yaml")
        )

"""Dataset contracts: the shipped one, header matching, and errors that name file and field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.contracts import (
    ContractError,
    ContractRegistry,
    DatasetContract,
    header_token,
    map_header,
    parse_contract,
)
from lakedrop.generate import COLUMNS, KOREAN_HEADERS

SHIPPED = Path(__file__).resolve().parents[3] / "functions" / "ingest" / "datasets"

EXPECTED_COLUMNS = [
    # name, type, required, pii, normalise
    ("transaction_id", "string", True, "keep", None),
    ("customer_id", "string", True, "hmac", "trim"),
    ("customer_name", "string", False, "hmac", "name"),
    ("email", "string", False, "hmac", "email"),
    ("phone", "string", False, "hmac", "phone"),
    ("event_time", "timestamp", True, "keep", None),
    ("amount", "decimal", True, "keep", None),
    ("quantity", "integer", False, "keep", None),
    ("category", "string", False, "keep", None),
    ("channel", "string", False, "keep", None),
    ("country", "string", False, "keep", None),
    ("is_refund", "boolean", False, "keep", None),
]


@pytest.fixture(scope="module")
def contract() -> DatasetContract:
    found = ContractRegistry().get("transactions")
    assert found is not None
    return found


# --- the shipped contract ----------------------------------------------------------------


def test_shipped_transactions_contract(contract: DatasetContract) -> None:
    assert contract.dataset == "transactions"
    assert contract.timezone == "Asia/Seoul"
    assert contract.default_phone_region == "KR"
    assert (contract.partition.column, contract.partition.grain) == ("event_time", "month")
    assert contract.partition.key == "event_month"
    assert contract.max_reject_ratio == 0.05
    got = [(c.name, c.type, c.required, c.pii, c.normalise) for c in contract.columns]
    assert got == EXPECTED_COLUMNS


def test_shipped_contract_pseudonymises_exactly_the_four_pii_columns(
    contract: DatasetContract,
) -> None:
    hmac_columns = [c.name for c in contract.hmac_columns]
    assert hmac_columns == ["customer_id", "customer_name", "email", "phone"]
    assert all(c.type == "string" for c in contract.hmac_columns)


def test_registry_lists_the_shipped_datasets() -> None:
    assert ContractRegistry().names() == ["transactions"]
    assert ContractRegistry(SHIPPED).names() == ["transactions"]


def test_packaged_and_folder_contracts_agree(contract: DatasetContract) -> None:
    assert ContractRegistry(SHIPPED).get("transactions") == contract


def test_registry_caches(contract: DatasetContract) -> None:
    registry = ContractRegistry()
    assert registry.get("transactions") is registry.get("transactions")


@pytest.mark.parametrize(
    "name",
    [
        "orders",  # well-formed, no such contract
        "../etc",
        "../../etc/passwd",
        "transactions/../transactions",
        "/etc/passwd",
        "..",
        "",
        "Transactions",
        "transactions.yaml",
        "transactions\n",
        "transactions ",
        "a" * 64,
        "1transactions",
        "거래",
    ],
)
def test_unknown_or_invalid_dataset_is_none(name: str) -> None:
    assert ContractRegistry().get(name) is None


def test_invalid_names_never_reach_the_file_system(tmp_path: Path) -> None:
    """A YAML outside the folder is not loaded through a crafted name."""
    folder = tmp_path / "contracts"
    folder.mkdir()
    (tmp_path / "secret.yaml").write_text((SHIPPED / "transactions.yaml").read_text())
    assert ContractRegistry(folder).get("../secret") is None
    assert ContractRegistry(folder).names() == []


# --- header matching ---------------------------------------------------------------------


def _mapped(contract: DatasetContract, headers: list[str]) -> list[str | None]:
    mapping = map_header(contract, headers)
    return [c.name if c else None for c in mapping.columns]


def test_canonical_english_headers(contract: DatasetContract) -> None:
    mapping = map_header(contract, list(COLUMNS))
    assert _mapped(contract, list(COLUMNS)) == [c[0] for c in EXPECTED_COLUMNS]
    assert mapping.missing_required == mapping.missing_optional == mapping.duplicates == ()
    assert mapping.ignored == ()


def test_korean_excel_headers(contract: DatasetContract) -> None:
    mapping = map_header(contract, list(KOREAN_HEADERS))
    assert _mapped(contract, list(KOREAN_HEADERS)) == [c[0] for c in EXPECTED_COLUMNS]
    assert mapping.missing_required == mapping.missing_optional == mapping.duplicates == ()


@pytest.mark.parametrize(
    ("header", "column"),
    [
        ("Customer ID", "customer_id"),
        ("CUSTOMER_ID", "customer_id"),
        ("customer-id", "customer_id"),
        ("  customer . id  ", "customer_id"),
        ("CustomerId", "customer_id"),
        ("cust_id", "customer_id"),
        ("Customer No", "customer_id"),
        ("고객 번호", "customer_id"),
        ("고객_번호", "customer_id"),
        ("회원번호", "customer_id"),
        ("E-Mail", "email"),
        ("Email Address", "email"),
        ("ＥＭＡＩＬ", "email"),  # full-width (NFKC)
        ("이메일 주소", "email"),
        ("Phone Number", "phone"),
        ("휴대폰 번호", "phone"),
        ("TXN_ID", "transaction_id"),
        ("Event Time", "event_time"),
        ("거래일시", "event_time"),
        ("Amount (KRW)", None),  # parentheses are not ignored
        ("amount krw", "amount"),
        ("Refund Flag", "is_refund"),
        ("\ufefftransaction_id", "transaction_id"),  # BOM left on the first header
        ("\ufeff거래번호", "transaction_id"),
        ("notes", None),
        ("", None),
    ],
)
def test_header_variants(contract: DatasetContract, header: str, column: str | None) -> None:
    assert _mapped(contract, [header]) == [column]


def test_header_token() -> None:
    assert header_token("\ufeff Customer_ID ") == "customerid"
    assert header_token("E-mail.Address") == "emailaddress"
    assert header_token("고객 번호") == "고객번호"
    assert header_token("Straße") == "strasse"  # case-folded, not just lower-cased


def test_bom_prefixed_first_header_of_a_whole_file(contract: DatasetContract) -> None:
    headers = ["\ufeff" + KOREAN_HEADERS[0], *KOREAN_HEADERS[1:]]
    assert _mapped(contract, headers) == [c[0] for c in EXPECTED_COLUMNS]


def test_duplicate_mapping_is_detected(contract: DatasetContract) -> None:
    headers = ["transaction_id", "customer_id", "고객번호", "event_time", "amount", "Customer ID"]
    mapping = map_header(contract, headers)
    assert mapping.duplicates == ("customer_id", "customer_id")
    # the first spelling wins; the later ones are not mapped
    assert _mapped(contract, headers) == [
        "transaction_id",
        "customer_id",
        None,
        "event_time",
        "amount",
        None,
    ]
    assert mapping.ignored == ("고객번호", "Customer ID")
    assert mapping.missing_required == ()


def test_missing_columns_are_reported_in_contract_order(contract: DatasetContract) -> None:
    mapping = map_header(contract, ["금액", "거래번호", "비고"])
    assert mapping.missing_required == ("customer_id", "event_time")
    assert mapping.missing_optional == (
        "customer_name",
        "email",
        "phone",
        "quantity",
        "category",
        "channel",
        "country",
        "is_refund",
    )
    assert mapping.ignored == ("비고",)
    assert mapping.source_headers == ("금액", "거래번호", "비고")


# --- broken contracts: the error names the file and the field -----------------------------


def _shipped_data() -> dict[str, Any]:
    data = yaml.safe_load((SHIPPED / "transactions.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _load(tmp_path: Path, data: dict[str, Any], dataset: str = "sales") -> ContractError:
    """Write ``data`` as ``<dataset>.yaml`` in a folder and return the error loading it raises."""
    data = copy.deepcopy(data)
    data.setdefault("dataset", dataset)
    path = tmp_path / f"{dataset}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with pytest.raises(ContractError) as err:
        ContractRegistry(tmp_path).get(dataset)
    return err.value


def _valid(dataset: str = "sales") -> dict[str, Any]:
    data = _shipped_data()
    data["dataset"] = dataset
    return data


def _column(data: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in data["columns"] if c["name"] == name)
    return found


def test_a_valid_copy_loads(tmp_path: Path) -> None:
    data = _valid()
    (tmp_path / "sales.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    loaded = ContractRegistry(tmp_path).get("sales")
    assert loaded is not None
    assert loaded.dataset == "sales"
    assert ContractRegistry(tmp_path).names() == ["sales"]


def _broken(mutate: Any) -> dict[str, Any]:
    data = _valid()
    mutate(data)
    return data


BROKEN = [
    pytest.param(
        lambda d: _column(d, "email").update(type="text"),
        "columns[3](email).type",
        "'string', 'integer', 'decimal', 'timestamp', 'date' or 'boolean'",
        id="unknown-type",
    ),
    pytest.param(
        lambda d: _column(d, "quantity").update(pii="hmac"),
        "columns[7](quantity).pii",
        "hmac applies to string columns, not integer",
        id="hmac-on-integer",
    ),
    pytest.param(
        lambda d: _column(d, "amount").update(normalise="trim"),
        "columns[6](amount).normalise",
        "normalise applies to string columns, not decimal",
        id="normalise-on-decimal",
    ),
    pytest.param(
        lambda d: _column(d, "transaction_id").update(pii="drop"),
        "columns[0](transaction_id).required",
        "a dropped column cannot be required",
        id="drop-required",
    ),
    pytest.param(
        lambda d: _column(d, "email").update(normalise="soundex"),
        "columns[3](email).normalise",
        "Input should be",
        id="unknown-normaliser",
    ),
    pytest.param(
        lambda d: d["partition"].update(column="order_time"),
        "partition.column",
        "partition column 'order_time' is not a column",
        id="partition-column-missing",
    ),
    pytest.param(
        lambda d: d["partition"].update(column="amount"),
        "partition.column",
        "must be a required timestamp or date; 'amount' is a decimal",
        id="partition-not-a-timestamp",
    ),
    pytest.param(
        lambda d: _column(d, "event_time").update(required=False),
        "partition.column",
        "'event_time' is an optional timestamp",
        id="partition-optional",
    ),
    pytest.param(
        lambda d: d["partition"].update(grain="week"),
        "partition.grain",
        "Input should be 'day' or 'month'",
        id="partition-grain",
    ),
    pytest.param(
        lambda d: _column(d, "email")["aliases"].append("고객 번호"),
        "columns[3](email).aliases[4]",
        "header '고객 번호' of column 'email' is already used by column 'customer_id'",
        id="duplicate-alias",
    ),
    pytest.param(
        lambda d: _column(d, "phone")["aliases"].append("E_MAIL"),
        "columns[4](phone).aliases[6]",
        "is already used by column 'email'",
        id="alias-equal-to-another-spelling",
    ),
    pytest.param(
        lambda d: _column(d, "country").update(name="channel"),
        "columns[10](channel).name",
        "column name 'channel' is used twice",
        id="duplicate-column-name",
    ),
    pytest.param(
        lambda d: _column(d, "country")["aliases"].append(" - "),
        "columns[10](country).aliases[3]",
        "no letters or digits",
        id="blank-alias",
    ),
    pytest.param(
        lambda d: d.update(timezone="Asia/Seul"),
        "timezone",
        "unknown time zone 'Asia/Seul'",
        id="bad-timezone",
    ),
    pytest.param(
        lambda d: d.update(default_phone_region="XK1"),
        "default_phone_region",
        "unknown phone region 'XK1'",
        id="bad-phone-region",
    ),
    pytest.param(
        lambda d: _column(d, "customer_id").update(requierd=True),
        "columns[1](customer_id).requierd",
        "unknown key (did you mean 'required'?)",
        id="typo-in-column",
    ),
    pytest.param(
        lambda d: d.update(timezon="UTC"),
        "timezon",
        "unknown key (did you mean 'timezone'?)",
        id="typo-at-top-level",
    ),
    pytest.param(
        lambda d: d.update(cluster_by=["customer_id", "shop"]),
        "cluster_by",
        "cluster_by names unknown columns ['shop']",
        id="cluster-by-unknown",
    ),
    pytest.param(
        lambda d: d.update(max_reject_ratio=1.5),
        "max_reject_ratio",
        "less than or equal to 1",
        id="reject-ratio-range",
    ),
    pytest.param(
        lambda d: _column(d, "email").update(name="E-mail"),
        "columns[3](E-mail).name",
        "String should match pattern",
        id="bad-column-name",
    ),
    pytest.param(lambda d: d.pop("partition"), "partition", "Field required", id="no-partition"),
    pytest.param(lambda d: d.update(columns=[]), "columns", "at least 1 item", id="no-columns"),
]


@pytest.mark.parametrize(("mutate", "field", "message"), BROKEN)
def test_contract_errors_name_file_and_field(
    tmp_path: Path, mutate: Any, field: str, message: str
) -> None:
    error = _load(tmp_path, _broken(mutate))
    text = str(error)
    path = str(tmp_path / "sales.yaml")
    assert text.startswith(f"{path}: field {field}: "), text
    assert message in text


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path) -> None:
    data = _valid()
    data["timezone"] = "Mars/Olympus"
    _column(data, "email")["type"] = "text"
    _column(data, "phone")["requierd"] = True
    lines = str(_load(tmp_path, data)).splitlines()
    path = tmp_path / "sales.yaml"
    assert len(lines) == 3
    assert all(line.startswith(f"{path}: field ") for line in lines)
    fields = sorted(line.split(": ")[1] for line in lines)
    assert fields == [
        "field columns[3](email).type",
        "field columns[4](phone).requierd",
        "field timezone",
    ]


def test_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(
        "dataset: sales\npartition:\n  column: event_time\ncolumns:\n  - name: [unclosed\n",
        encoding="utf-8",
    )
    with pytest.raises(ContractError) as err:
        ContractRegistry(tmp_path).get("sales")
    text = str(err.value)
    assert text.startswith(f"{path}: not valid YAML")
    assert "line 5" in text


@pytest.mark.parametrize("content", ["- a\n- b\n", "just text\n", "", "42\n"])
def test_a_contract_must_be_a_mapping(tmp_path: Path, content: str) -> None:
    path = tmp_path / "sales.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ContractError) as err:
        ContractRegistry(tmp_path).get("sales")
    assert str(err.value).startswith(f"{path}: a contract is a mapping")


def test_dataset_field_must_match_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "sales.yaml").write_text(yaml.safe_dump(_valid("orders"), allow_unicode=True))
    with pytest.raises(ContractError) as err:
        ContractRegistry(tmp_path).get("sales")
    text = str(err.value)
    assert text.startswith(f"{tmp_path / 'sales.yaml'}: field dataset: ")
    assert "'orders'" in text
    assert "'sales'" in text


def test_parse_contract_names_its_source(contract: DatasetContract) -> None:
    """parse_contract, as used for packaged contracts, names the source it is given."""
    text = (SHIPPED / "transactions.yaml").read_text(encoding="utf-8")
    assert parse_contract(text, "datasets/transactions.yaml") == contract
    broken = text.replace("timezone: Asia/Seoul", "timezone: Asia/Seul")
    with pytest.raises(ContractError, match=r"^datasets/transactions\.yaml: field timezone: "):
        parse_contract(broken, "datasets/transactions.yaml")

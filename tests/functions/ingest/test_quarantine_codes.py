"""Every code the ingest can quarantine a file with is in ``QUARANTINE_CODES``, which readers
(the report) rely on: read off the source, where the errors are raised."""

from __future__ import annotations

import ast
from pathlib import Path

import ingest
from ingest.service import QUARANTINE_CODES

# the exceptions that end in quarantine, with (reason, code) as their arguments
QUARANTINING = {"UnreadableFile", "TransformError", "FileRejected"}


def _raised_codes() -> set[str]:
    codes: set[str] = set()
    for path in Path(ingest.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in QUARANTINING
                and len(node.args) == 2
            ):
                code = node.args[1]
                assert isinstance(code, ast.Constant) and isinstance(code.value, str), (
                    f"{path.name}:{node.lineno}: the code must be a literal"
                )
                codes.add(code.value)
    return codes


def test_every_raised_code_is_listed() -> None:
    raised = _raised_codes()
    assert len(raised) >= 10  # the scan finds the raises (it would find none if they moved)
    assert raised == set(QUARANTINE_CODES)

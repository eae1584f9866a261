"""The migration guard's classification of pending operations (as the probe describes them)."""

from __future__ import annotations

import json

import pytest

from deploy.commands.migration_guard import MARKER, classify, explain, parse_probe_output, pending_summary


def op(kind: str, **extra: object) -> dict:
    return {"app": "boxoffice", "migration": "0003_x", "operation": kind, "backwards": False,
            "model": "event", **extra}  # fmt: skip


def field(cls: str = "django.db.models.CharField", null: bool = False, db_default: bool = False,
          max_length: int | None = 200, m2m: bool = False) -> dict:  # fmt: skip
    return {
        "class": cls,
        "null": null,
        "db_default": db_default,
        "max_length": max_length,
        "many_to_many": m2m,
    }


@pytest.mark.parametrize(
    ("operation", "reason"),
    [
        (op("RemoveField", field="venue"), "drops a column"),
        (op("DeleteModel", model="event"), "drops a table"),
        (op("RenameField", field="venue", new_name="place"), "renames the column to 'place'"),
        (op("RenameModel", new_name="show"), "renames the table to 'show'"),
        (op("AlterModelTable"), "renames the table"),
        (op("AddField", field="code", new=field(), old=None), "NOT NULL column without a database default"),
        (
            op("AlterField", field="venue", old=field(null=True), new=field(null=False)),
            "makes the column NOT NULL",
        ),
        (
            op("AlterField", field="capacity", old=field(), new=field(cls="django.db.models.IntegerField")),
            "changes the column type",
        ),
        (op("AlterField", field="venue", old=field(max_length=200), new=field(max_length=50)), "shortens"),
        (op("AddField", field="x", backwards=True, new=field(null=True)), "backwards"),
    ],
)
def test_contract_changes_are_refused(operation: dict, reason: str) -> None:
    [finding] = classify([operation])
    assert reason in finding.reason
    assert str(finding).startswith(f"boxoffice.0003_x: {operation['operation']} ")


@pytest.mark.parametrize(
    "operation",
    [
        op("CreateModel", model="ticket"),
        op("AddField", field="note", new=field(null=True), old=None),
        op("AddField", field="code", new=field(db_default=True), old=None),
        op("AddField", field="tags", new=field(m2m=True), old=None),
        op("AddIndex"),
        op("AlterField", field="venue", old=field(), new=field(null=True)),
        op("AlterField", field="venue", old=field(max_length=50), new=field(max_length=200)),
    ],
)
def test_expand_changes_pass(operation: dict) -> None:
    assert classify([operation]) == []


def test_explanation_names_migration_operation_and_override() -> None:
    text = explain(classify([op("RemoveField", field="venue")]))
    assert "boxoffice.0003_x: RemoveField event.venue" in text
    assert "--allow-breaking" in text


def test_probe_output_parsing() -> None:
    ops = [op("AddIndex")]
    assert parse_probe_output(f"noise\n{MARKER}{json.dumps(ops)}\n") == ops
    with pytest.raises(ValueError):
        parse_probe_output("Traceback ...")
    assert pending_summary([*ops, op("AddIndex", migration="0004_y")]) == "boxoffice.0003_x, boxoffice.0004_y"
    assert pending_summary([]) == "none"

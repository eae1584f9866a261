"""Refuse migrations that the release still running on the other nodes cannot live with.

A rolling deploy migrates the database once, *before* any node switches, so for the whole
deploy the old release runs against the new schema. That is safe only for "expand" changes
(new tables, nullable columns, columns with a database default, indexes). "Contract" changes
break the old code's queries and inserts and must be shipped in a later release, once no node
runs code that uses what they remove:

| operation | why the old release breaks |
|---|---|
| RemoveField, DeleteModel | it still selects/inserts the column or table |
| RenameField, RenameModel, AlterModelTable | it still uses the old name |
| AddField NOT NULL without ``db_default`` | its INSERTs omit the column (``default=`` is applied by Django, not the database) |
| AlterField to NOT NULL | it may still write NULL there |
| AlterField changing the column's type | its values may no longer fit |

The pending operations are read with Django's own migration loader, in the NEW release's code,
against the cluster's database (:data:`PROBE` runs in ``manage.py shell``). What is pending is
described as plain dicts and classified here by pure functions (unit-tested).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# Printed by PROBE after this marker: a JSON list of pending operations.
MARKER = "TIERS-PENDING-OPERATIONS:"

# Runs inside `manage.py shell -c` with the new release's code and the cluster's environment.
PROBE = r"""
import json
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations import operations as ops
from django.db.migrations.executor import MigrationExecutor

conn = connections[DEFAULT_DB_ALIAS]
executor = MigrationExecutor(conn)
plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
state = executor._create_project_state(with_applied_migrations=True)


def field_info(field):
    if field is None:
        return None
    path, _args, kwargs = field.deconstruct()
    return {
        "class": path,
        "null": bool(field.null),
        "many_to_many": bool(field.many_to_many),
        "db_default": getattr(field, "has_db_default", lambda: False)(),
        "max_length": kwargs.get("max_length"),
    }


out = []
for migration, backwards in plan:
    for op in migration.operations:
        item = {"app": migration.app_label, "migration": migration.name, "operation": type(op).__name__,
                "backwards": backwards, "model": getattr(op, "model_name", None) or getattr(op, "name", None)}
        if isinstance(op, (ops.AddField, ops.AlterField, ops.RemoveField, ops.RenameField)):
            item["field"] = getattr(op, "name", None) or getattr(op, "old_name", None)
        if isinstance(op, ops.RenameField):
            item["field"], item["new_name"] = op.old_name, op.new_name
        if isinstance(op, ops.RenameModel):
            item["model"], item["new_name"] = op.old_name, op.new_name
        if isinstance(op, (ops.AddField, ops.AlterField)):
            item["new"] = field_info(op.field)
            old = None
            model = state.models.get((migration.app_label, op.model_name_lower))
            if model is not None:
                old = model.fields.get(op.name)
            item["old"] = field_info(old)
        out.append(item)
        op.state_forwards(migration.app_label, state)
print("TIERS-PENDING-OPERATIONS:" + json.dumps(out))
"""


@dataclass(frozen=True)
class Finding:
    app: str
    migration: str
    operation: str
    target: str
    reason: str

    def __str__(self) -> str:
        return f"{self.app}.{self.migration}: {self.operation} {self.target}: {self.reason}"


def parse_probe_output(stdout: str) -> list[dict[str, Any]]:
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    raise ValueError("the migration probe printed no list of pending operations")


def _target(op: dict[str, Any]) -> str:
    model = op.get("model") or "?"
    return f"{model}.{op['field']}" if op.get("field") else str(model)


def classify(operations: list[dict[str, Any]]) -> list[Finding]:
    """The pending operations the running (old) release cannot live with."""
    findings: list[Finding] = []
    for op in operations:
        kind = op["operation"]
        reason = ""
        if op.get("backwards"):
            reason = "a backwards (unapply) step: the deploy would undo a migration the old release needs"
        elif kind == "RemoveField":
            reason = "drops a column the running release still selects and inserts"
        elif kind == "DeleteModel":
            reason = "drops a table the running release still uses"
        elif kind == "RenameField":
            reason = f"renames the column to {op.get('new_name')!r}; the running release uses the old name"
        elif kind == "RenameModel":
            reason = f"renames the table to {op.get('new_name')!r}; the running release uses the old name"
        elif kind == "AlterModelTable":
            reason = "renames the table; the running release uses the old name"
        elif kind == "AddField":
            new = op.get("new") or {}
            if not new.get("many_to_many") and not new.get("null") and not new.get("db_default"):
                reason = (
                    "adds a NOT NULL column without a database default: the running release's INSERTs "
                    "omit it and fail (Django's default= is not a database default; use null=True or db_default=)"
                )
        elif kind == "AlterField":
            old, new = op.get("old") or {}, op.get("new") or {}
            if old and new and old.get("null") and not new.get("null"):
                reason = "makes the column NOT NULL: the running release may still write NULL"
            elif old and new and old.get("class") != new.get("class"):
                reason = f"changes the column type ({old.get('class')} -> {new.get('class')})"
            elif old and new and (new.get("max_length") or 0) < (old.get("max_length") or 0):
                reason = (
                    f"shortens the column (max_length {old.get('max_length')} -> {new.get('max_length')})"
                )
        if reason:
            findings.append(Finding(op["app"], op["migration"], kind, _target(op), reason))
    return findings


def explain(findings: list[Finding]) -> str:
    lines = [
        "refusing to deploy: pending migrations would break the release still running on the other nodes",
        "(migrations run before any node switches, so old and new code share the new schema):",
        *(f"  - {f}" for f in findings),
        "Ship it in two releases (expand now, contract once no running code uses it), or pass",
        "--allow-breaking if the running release really never touches it.",
    ]
    return "\n".join(lines)


def pending_summary(operations: list[dict[str, Any]]) -> str:
    migrations = sorted({f"{op['app']}.{op['migration']}" for op in operations})
    return ", ".join(migrations) if migrations else "none"

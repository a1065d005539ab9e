"""Restricted script engine for BPMN scripts, conditions and timer expressions.

BPMN files are trusted repository content, but they are still run with a small builtin set and
an AST screen (no imports, no dunder or private names) as defence in depth. The engine is not
serialized with a workflow, so the runtime re-attaches it after every load.
"""
from __future__ import annotations

import ast
import builtins
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

SAFE_BUILTIN_NAMES = (
    "abs", "all", "any", "bool", "dict", "enumerate", "filter", "float", "int", "isinstance", "len",
    "list", "map", "max", "min", "range", "round", "set", "sorted", "str", "sum", "tuple", "zip",
    "True", "False", "None", "Exception", "ValueError", "KeyError",
)
SAFE_BUILTINS: dict[str, Any] = {name: getattr(builtins, name) for name in SAFE_BUILTIN_NAMES}


# Attributes that lead from an ordinary object back to frames, code and globals (and so to the real
# builtins) without any underscore: generator/coroutine frames, frame and traceback links, and the
# string formatting that can read attributes by name. The same set RestrictedPython refuses.
BLOCKED_ATTRIBUTES = frozenset({
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code",
    "ag_await", "f_back", "f_globals", "f_locals", "f_builtins", "f_code", "f_trace", "tb_frame", "tb_next",
    "format", "format_map", "mro",
})


class ScriptRejected(PermissionError):
    """A BPMN script or expression used a construct the screen does not allow."""


def screen(code: str, mode: str) -> None:
    """Refuse imports, global statements, any dunder/private name or attribute, the frame/code
    attributes above, and dunder strings (a subscript such as ``x['__builtins__']``)."""
    for node in ast.walk(ast.parse(code, mode=mode)):
        if isinstance(node, ast.Import | ast.ImportFrom | ast.Global | ast.Nonlocal):
            raise ScriptRejected("import/global statements are not allowed")
        if isinstance(node, ast.Attribute) and (node.attr.startswith("_") or node.attr in BLOCKED_ATTRIBUTES):
            raise ScriptRejected(f"access to attribute {node.attr!r} is not allowed")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ScriptRejected(f"name {node.id!r} is not allowed")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value:
            raise ScriptRejected("strings naming dunder attributes are not allowed")


class GuardedEnvironment(TaskDataEnvironment):
    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        screen(expression, "eval")
        return super().evaluate(expression, context, external_context)

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> Any:
        screen(script, "exec")
        return super().execute(script, context, external_context)


def build_engine() -> PythonScriptEngine:
    # Only the builtins: names added here could clash with task-data keys (SpiffWorkflow
    # refuses data that shadows an environment global).
    return PythonScriptEngine(environment=GuardedEnvironment({"__builtins__": SAFE_BUILTINS}))


SCRIPT_ENGINE = build_engine()

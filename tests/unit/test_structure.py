"""The package's shape stays what the architecture asks for: small modules and functions, one home per SDK,
and only the command line printing or exiting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "juliapack"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
MAX_PARAMETERS = 8


def functions(tree: ast.AST):
    return [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def is_typer_command(function: ast.FunctionDef) -> bool:
    """Typer's way is one parameter per option: command functions are held to the other rules only."""
    return any(isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "command" for d in function.decorator_list)


def parameters(function: ast.FunctionDef) -> int:
    args = function.args
    count = len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs) + bool(args.vararg) + bool(args.kwarg)
    return count - (1 if args.args and args.args[0].arg in ("self", "cls") else 0)


@pytest.mark.parametrize("module", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_modules_and_functions_are_small(module: Path) -> None:
    text = module.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES
    for function in functions(ast.parse(text)):
        if is_typer_command(function):
            continue
        length = function.end_lineno - function.lineno + 1
        assert length <= MAX_FUNCTION_LINES, f"{function.name} has {length} lines"
        assert parameters(function) <= MAX_PARAMETERS, f"{function.name} takes {parameters(function)} parameters"


def imported(module: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(("sdk", "home"), [("docker", "container.py"), ("kaggle", "kaggle_api"), ("kagglesdk", "kaggle_api"), ("typer", "cli"), ("rich", "cli")])
def test_each_sdk_has_one_home(sdk: str, home: str) -> None:
    users = [str(module.relative_to(PACKAGE)) for module in MODULES if sdk in imported(module)]
    assert users and all(user.startswith(home) for user in users), users


def test_only_the_command_line_prints_or_exits() -> None:
    offenders = []
    for module in MODULES:
        if module.relative_to(PACKAGE).parts[0] in ("cli", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("print", "exit", "quit"):
                offenders.append(f"{module.relative_to(PACKAGE)}:{node.lineno} {node.func.id}()")
            if isinstance(node, ast.Attribute) and node.attr == "exit" and isinstance(node.value, ast.Name) and node.value.id == "sys":
                offenders.append(f"{module.relative_to(PACKAGE)}:{node.lineno} sys.exit")
    assert offenders == []

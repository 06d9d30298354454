"""Every public name of the documented modules has a docstring: the reference is made of them.

The public names are each module's `__all__` and the public methods and properties of
its classes (those defined in coursegen, inherited ones included). Constants and type
aliases are documented by the string right after their assignment, as the reference's
generator reads them. `python tests/test_docstrings.py` prints the coverage figure.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

DOCUMENTED_MODULES = (
    "coursegen",
    "coursegen.wire",
    "coursegen.sandbox",
    "coursegen.testing",
    "coursegen.sync",
    "coursegen.webhooks",
)


def _source_tree(module: ModuleType) -> ast.Module:
    return ast.parse(Path(inspect.getfile(module)).read_text(encoding="utf-8"))


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """A module's statements, with those of top-level `try`/`if` blocks flattened in."""
    found: list[ast.stmt] = []
    for node in body:
        found.append(node)
        if isinstance(node, ast.Try):
            found += _top_level(node.body) + _top_level(node.orelse)
            for handler in node.handlers:
                found += _top_level(handler.body)
        elif isinstance(node, ast.If):
            found += _top_level(node.body) + _top_level(node.orelse)
    return found


def _assigns(node: ast.stmt, name: str) -> bool:
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    return (
        isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == name
    )


def _attribute_docstring(module: ModuleType, name: str) -> str | None:
    """The string after `name = ...` where it is defined, following `from . import`s."""
    for body in _blocks(_source_tree(module)):
        for node, after in zip(body, [*body[1:], None], strict=False):
            if _assigns(node, name):
                if (
                    isinstance(after, ast.Expr)
                    and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)
                ):
                    return after.value.value
                return None
    for node in _top_level(_source_tree(module).body):
        if isinstance(node, ast.ImportFrom) and any(a.name == name for a in node.names):
            package = module.__name__ if hasattr(module, "__path__") else module.__package__
            origin = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            return _attribute_docstring(importlib.import_module(origin), name)
    return None


def _blocks(tree: ast.Module) -> list[list[ast.stmt]]:
    """The module's body and the bodies of its top-level `try`/`if` blocks."""
    blocks = [tree.body]
    for node in _top_level(tree.body):
        if isinstance(node, ast.Try):
            blocks += [node.body, node.orelse, *(h.body for h in node.handlers)]
        elif isinstance(node, ast.If):
            blocks += [node.body, node.orelse]
    return blocks


def _function(value: Any) -> Any | None:
    """The function behind a class attribute, if it is a method or a property."""
    if isinstance(value, classmethod | staticmethod):
        return value.__func__
    if isinstance(value, property):
        return value.fget
    if _routine(value):
        return value
    return None


def _routine(value: Any) -> bool:
    """A function, or one a decorator wrapped (a pytest fixture); not a typing alias."""
    return inspect.isroutine(value) or (
        hasattr(value, "__wrapped__") and inspect.isroutine(inspect.unwrap(value))
    )


def public_names() -> dict[str, str | None]:
    """Every public name of the documented modules, with its docstring (None: missing)."""
    names: dict[str, str | None] = {}
    for module_name in DOCUMENTED_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            qualified = f"{module_name}.{name}"
            if inspect.isclass(obj):
                names[qualified] = obj.__dict__.get("__doc__")
                for owner in obj.__mro__:
                    if not owner.__module__.startswith("coursegen"):
                        continue
                    for attr, value in vars(owner).items():
                        function = _function(value)
                        if attr.startswith("_") or function is None:
                            continue
                        names.setdefault(f"{qualified}.{attr}", function.__doc__)
            elif _routine(obj):
                names[qualified] = obj.__doc__
            else:
                names[qualified] = _attribute_docstring(module, name)
    return names


def undocumented() -> list[str]:
    return sorted(name for name, doc in public_names().items() if not (doc or "").strip())


def test_every_public_name_has_a_docstring():
    """Each name in `__all__` of coursegen, wire, sandbox, testing, sync and webhooks, and
    each public method of their classes, has a docstring for the reference to show."""
    missing = undocumented()
    assert not missing, f"{len(missing)} public names have no docstring: {', '.join(missing)}"


def test_the_check_sees_constants_and_methods():
    """The walk reaches type aliases, constants and inherited methods, not only classes."""
    names = public_names()
    assert "coursegen.Result" in names
    assert "coursegen.sandbox.DEFAULT_EPOCH" in names
    assert "coursegen.Job.result" in names
    assert "coursegen.testing.ProviderContract.test_registered_as_a_plugin" in names
    assert names["coursegen.wire.read_json"]


@pytest.mark.parametrize("module_name", DOCUMENTED_MODULES)
def test_every_module_has_a_docstring(module_name):
    """The module itself says what it is for: the reference page opens with it."""
    assert (importlib.import_module(module_name).__doc__ or "").strip()


REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "reference"


def test_the_reference_shows_every_public_name():
    """Each name of `coursegen.__all__` has its entry on the reference page, and each other
    documented module is rendered whole on its own page."""
    import coursegen  # noqa: PLC0415 - the walk above imports by name; this reads one list

    page = (REFERENCE / "coursegen.md").read_text(encoding="utf-8").splitlines()
    shown = {line.removeprefix("::: coursegen.") for line in page if line.startswith(":::")}
    assert set(coursegen.__all__) <= shown
    pages = "".join(path.read_text(encoding="utf-8") for path in REFERENCE.glob("*.md"))
    for module_name in DOCUMENTED_MODULES[1:]:
        assert f"::: {module_name}\n" in pages


if __name__ == "__main__":
    found = public_names()
    gaps = undocumented()
    print(f"documented: {len(found) - len(gaps)} / {len(found)} public names")  # noqa: T201
    print("\n".join(gaps))  # noqa: T201
    sys.exit(1 if gaps else 0)

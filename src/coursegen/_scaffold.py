"""`coursegen new-provider NAME`: a working provider package to start a plugin from.

The template lives beside this module as package data (`_template/`, files ending in
`.tmpl`, `PACKAGE` standing for the package's folder) and is filled in with
`string.Template`: no dependency, and `$$` is all a template file must escape. What it
writes passes `coursegen.testing.ProviderContract` as generated (a test in our suite
installs it with pip into a fresh environment and runs its contract there).
"""

from __future__ import annotations

import importlib.metadata
import re
import string
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ._errors import ConfigurationError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["new_provider"]

_NAME: Final = re.compile(r"^[a-z][a-z0-9]*$")
_SUFFIX: Final = ".tmpl"


def _names(name: str) -> dict[str, str]:
    if not _NAME.match(name):
        raise ConfigurationError(
            f"a provider name is lowercase letters and digits, starting with a letter "
            f"(it is also the URL scheme and part of the package name), not {name!r}"
        )
    try:
        version = importlib.metadata.version("coursegen")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        version = "0.1.0"
    return {
        "name": name,
        "package": f"coursegen_{name}",
        "dist": f"coursegen-{name}",
        "cls": name.capitalize(),
        "title": name.capitalize(),
        "env_prefix": name.upper(),
        "env_key": f"{name.upper()}_API_KEY",
        "coursegen_version": version,
    }


def new_provider(name: str, directory: Path | str | None = None) -> Path:
    """Write the package of provider `name` into `directory` (default `./coursegen-NAME`).

    Returns the package's folder. Refuses (`ConfigurationError`) a name that cannot be a
    URL scheme and a Python package, or a folder that exists and is not empty: nothing
    of the author's is ever overwritten.
    """
    names = _names(name)
    target = Path(directory) if directory is not None else Path(names["dist"])
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigurationError(f"{target} exists and is not an empty folder")
    written: list[tuple[Path, str]] = []
    _render(resources.files(__package__ or "coursegen") / "_template", Path(), names, written)
    for relative, text in written:
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def _render(
    folder: Traversable, relative: Path, names: dict[str, str], out: list[tuple[Path, str]]
) -> None:
    for item in sorted(folder.iterdir(), key=lambda entry: entry.name):
        item_name = names["package"] if item.name == "PACKAGE" else item.name
        if item.is_dir():
            if item.name != "__pycache__":
                _render(item, relative / item_name, names, out)
        elif item.name.endswith(_SUFFIX):
            text = string.Template(item.read_text(encoding="utf-8")).substitute(names)
            out.append((relative / item_name.removesuffix(_SUFFIX), text))

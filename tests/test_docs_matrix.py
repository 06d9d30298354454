"""The documentation's vendor feature matrix is generated from the registered providers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import coursegen
import toy

HOOK = Path(__file__).resolve().parents[1] / "docs" / "hooks" / "matrix.py"


def _matrix_module():
    spec = importlib.util.spec_from_file_location("docs_matrix_hook", HOOK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_matrix_has_a_column_for_each_registered_provider():
    """Every provider of the installed registry is a column of the generated matrix."""
    matrix = _matrix_module().feature_matrix(coursegen.default_registry())
    header = matrix.splitlines()[2]
    providers = coursegen.default_registry().providers
    assert providers
    for name in providers:
        assert f"`{name}`" in header


def test_the_matrix_follows_the_declared_capabilities_and_policy():
    """A provider's row cells come from its `Capabilities` and `PollPolicy`, not from prose."""
    matrix = _matrix_module().feature_matrix(toy.registry())
    rows = {line.split(" | ")[0].lstrip("| "): line for line in matrix.splitlines()}
    policy = toy.Toy.policy
    assert f"{policy.min_interval:g} s" in rows["poll floor (min interval)"]
    assert f"{policy.job_timeout:g} s" in rows["job timeout (default deadline)"]
    assert rows["`subject`"].endswith("| yes |")  # the toy honours subject and extra only
    assert rows["`outline`"].endswith("| - |")


def test_the_marker_is_replaced_in_a_page():
    """The hook puts the tables where a page holds the marker, and leaves other pages alone."""
    hook = _matrix_module()
    page = f"# Providers\n\n{hook.MARKER}\n"
    assert "### Request fields honoured" in hook.on_page_markdown(page)
    assert hook.on_page_markdown("# Other\n") == "# Other\n"


class _NeedsARegion(toy.Toy):
    """A provider whose policy comes from settings it cannot be built without."""

    name = "needs-region"

    @property
    def policy(self):
        return toy.Toy.policy

    @classmethod
    def from_settings(cls, settings):
        del settings  # whatever it is given, a region is missing
        raise coursegen.ConfigurationError("needs-region needs a region")


class _NeedsARegionPlugin:
    @coursegen.hookimpl
    def coursegen_register_providers(self, register):
        register(_NeedsARegion)


def test_a_provider_that_cannot_be_built_is_shown_without_a_policy():
    """The build does not fail on a plugin needing more than a key: its policy cells say so."""
    registry = coursegen.Registry(entry_points=list, environ={})
    registry.register_plugin(_NeedsARegionPlugin())
    matrix = _matrix_module().feature_matrix(registry)
    assert "`needs-region`" in matrix
    assert "| poll floor (min interval) | depends on its settings |" in matrix

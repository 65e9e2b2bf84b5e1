"""Activates the scenario plugin (harness.plugin) for this repository.

Installing the package registers the plugin through its `pytest11` entry
point, under the name `scenarios`. A checkout that is not installed, or a
run with PYTEST_DISABLE_PLUGIN_AUTOLOAD=1, does not load entry points, so we
register it here under the same name. A plain `pytest_plugins =
["harness.plugin"]` would break the installed case: pytest would register the
same module again under a second name and stop with "Plugin already
registered under a different name". `-p no:scenarios` still disables it.
"""

import pytest

import harness.plugin


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    if not pluginmanager.is_registered(harness.plugin):
        pluginmanager.register(harness.plugin, "scenarios")

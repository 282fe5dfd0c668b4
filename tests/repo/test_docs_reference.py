"""docs/ alone tells a user what the CLI, the API and the workflow format accept: every
command and option of the click program is in docs/cli.md, every route and method of the
app in docs/api.md (sync's in docs/sync.md, the web UI's in docs/ui.md), every key and enumerated value of a
definition in docs/workflow-format.md. Checked against the code, so the pages cannot lag."""

from __future__ import annotations

import re

import click
import pytest

from tests import ROOT
from tests.api.test_openapi import app_routes
from tests.support_api import make_api
from wfobj.engine.definitions import format as definition
from wfobj.objstore import MemoryObjectStore

DOCS = ROOT / "docs"


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    """(path, command) of every command under `group`, groups included (the lazy ones
    made, through click's own list_commands and get_command)."""
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        path = f"{prefix}{name}"
        found.append((path, cmd))
        if isinstance(cmd, click.Group):
            found.extend(commands(cmd, path + " "))
    return found


def cli_page() -> str:
    return (DOCS / "cli.md").read_text()


def test_every_command_has_a_row_in_cli_md():
    from wfobj.cli.main import cli

    page = cli_page()
    missing = [path for path, cmd in commands(cli) if not cmd.hidden
               and not re.search(rf"`(wfobj )?{re.escape(path)}(`| )", page)]
    assert not missing, f"docs/cli.md lacks commands: {missing}"


def test_every_option_is_named_in_cli_md():
    from wfobj.cli.main import cli

    page = cli_page()
    missing = set()
    for path, cmd in [("", cli), *commands(cli)]:
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.hidden:
                names = [o for o in param.opts + param.secondary_opts if o != "--help"]
                if names and not any(re.search(rf"{re.escape(o)}\b", page) for o in names):
                    missing.add(f"{path} {names[0]}".strip())
    assert not missing, f"docs/cli.md never names: {sorted(missing)}"


def shape(template: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", template)


def documented_routes() -> set[str]:
    """"METHOD /path" of every route row in docs/api.md and docs/sync.md, and "* /ui/…" of
    every page of docs/ui.md (its table gives paths; the methods are in its text),
    parameters as {}."""
    text = (DOCS / "api.md").read_text() + (DOCS / "sync.md").read_text()
    routes = {f"{m} {shape(p)}" for m, p in
              re.findall(r"`(GET|HEAD|POST|PUT|PATCH|DELETE) (/[^`?\s]*)", text)}
    pages = re.findall(r"`(/ui[^`?\s]*)", (DOCS / "ui.md").read_text())
    return routes | {f"* {shape(p)}" for p in pages}


def is_documented(method: str, template: str, documented: set[str]) -> bool:
    scope = "*" if template == "/ui" or template.startswith("/ui/") else method.upper()
    return f"{scope} {shape(template)}" in documented


def test_every_route_and_method_is_in_api_md_or_ui_md():
    from wfobj.engine.access.sessions import SessionStore
    from wfobj.engine.access.tokens import TokenStore

    store = MemoryObjectStore()
    app = make_api(store, sessions=SessionStore(store, TokenStore(store))).client.app
    documented = documented_routes()
    missing = sorted(f"{m.upper()} {t}" for t, methods in app_routes(app).items()
                     for m in methods if not is_documented(m, t, documented))
    assert not missing, f"undocumented routes: {missing}"


@pytest.mark.parametrize("keys", [definition.TOP_KEYS, definition.TASK_KEYS,
                                  definition.PARAM_KEYS, definition.PARAM_TYPES,
                                  definition.PULL_POLICIES],
                         ids=["top", "task", "param", "param-type", "pull"])
def test_every_definition_key_and_value_is_in_workflow_format_md(keys):
    page = (DOCS / "workflow-format.md").read_text()
    missing = sorted(k for k in keys if f"`{k}`" not in page)
    assert not missing, f"docs/workflow-format.md lacks {missing}"

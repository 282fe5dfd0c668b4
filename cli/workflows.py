"""`wfobj workflow apply|list|show|log`: register and inspect workflow definitions."""

from __future__ import annotations

import getpass
import os

import click

from .context import CliContext, json_option, pass_ctx
from .human import table
from .run_ref import strip_workflow_prefix


def local_user() -> str:
    return f"local:{getpass.getuser()}"


def content_type_of(path: str) -> str:
    return "application/json" if path.lower().endswith((".json", ".cwl")) else "application/yaml"


def read_definition(path: str) -> bytes:
    """The body `apply` and `validate` send for FILE: its bytes, or for a CWL document (a
    `.cwl` file) the document and every file it names packed into one JSON document, so
    the server never reads a file of the client (docs/cwl.md)."""
    if path.lower().endswith(".cwl"):
        from wfobj.engine import pack_cwl_file

        return pack_cwl_file(path)
    with open(path, "rb") as f:  # bytes: the parser names an encoding error, not Python
        return f.read()


def upload_cwl_defaults(ctx: CliContext, svc, path: str, text: bytes) -> bytes:
    """A packed CWL document whose File and Directory objects naming a file of the client
    (`file://…`, a default) name it in the store instead: each uploaded (a folder as a
    tree) and given as `location: wfobj:HASH`, its `basename` kept (docs/cwl.md)."""
    if not path.lower().endswith(".cwl"):
        return text
    import json
    from urllib.parse import unquote, urlsplit

    from .trees import check_folder, store_folder

    document = json.loads(text)
    changed = False
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        location = item.get("location")
        if item.get("class") in ("File", "Directory") and isinstance(location, str) \
                and location.startswith("file://"):
            local = unquote(urlsplit(location).path)
            try:
                if item["class"] == "Directory" and (ctx.server or ctx.store_path):
                    oid = store_folder(ctx, local)["hash"]
                elif item["class"] == "Directory":  # validate on an in-memory store
                    from wfobj.objstore import put_directory

                    check_folder(local)
                    oid = put_directory(svc.store, local).oid
                else:
                    with open(local, "rb") as f:
                        oid = svc.put_file(f)["hash"]
            except OSError as exc:
                raise click.ClickException(f"{path}: cannot read {local}: "
                                           f"{exc.strerror}") from None
            item["basename"] = item.get("basename") or os.path.basename(local.rstrip("/"))
            item["location"] = f"wfobj:{oid}"
            changed = True
        stack.extend(item.values())
    if not changed:
        return text
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def name_for(path: str, given: str | None, text: bytes) -> str:
    """--name, else the definition's own `name`, else the file name without extension."""
    if given:
        return given
    from wfobj.engine import parse_source

    raw = parse_source(text, content_type_of(path))
    if isinstance(raw.get("name"), str):
        return raw["name"]
    return os.path.splitext(os.path.basename(path))[0]


@click.group("workflow")
def workflow() -> None:
    """Register and inspect workflow definitions."""


@workflow.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", help="Register under this name (default: the file's `name`).")
@json_option
@pass_ctx
def apply(ctx: CliContext, file: str, name: str | None) -> None:
    """Register FILE (YAML or JSON, or a CWL document `.cwl`); a new version only if the
    definition changed."""
    svc = ctx.service()
    text = upload_cwl_defaults(ctx, svc, file, read_definition(file))
    result, created = svc.apply_workflow(
        name_for(file, name, text), text, user=local_user(), content_type=content_type_of(file))
    ctx.emit({**result, "created": created}, lambda r: click.echo(
        f"{r['name']} version {r['version']} ({'created' if created else 'unchanged'}): "
        f"{r['definition_hash']}"))


def checking_service(ctx: CliContext):
    """The service to validate with: the store's or server's, else one on an empty
    in-memory store (a definition is checked the same either way)."""
    if ctx.server or ctx.store_path:
        return ctx.service()
    from wfobj.engine import WorkflowService
    from wfobj.objstore import MemoryObjectStore

    return WorkflowService(MemoryObjectStore())


@workflow.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", help="Check it as registered under this name (default: as apply).")
@json_option
@pass_ctx
def validate(ctx: CliContext, file: str, name: str | None) -> None:
    """Check FILE (YAML or JSON, or a CWL document `.cwl`) as `apply` would, registering
    nothing; exit 1 naming the first problem."""
    svc = checking_service(ctx)
    text = upload_cwl_defaults(ctx, svc, file, read_definition(file))
    result = svc.validate_workflow(name_for(file, name, text), text,
                                                     content_type=content_type_of(file))

    def human(r: dict) -> None:
        state = "registered as the newest version" if r["registered"] else "not registered"
        click.echo(f"{file}: valid workflow {r['name']} ({len(r['tasks'])} tasks: "
                   f"{', '.join(r['tasks'])}); definition {r['definition_hash']}, {state}")

    ctx.emit(result, human)


@workflow.command("list")
@json_option
@pass_ctx
def list_(ctx: CliContext) -> None:
    """Registered workflows with their newest version."""
    def human(rows: list[dict]) -> None:
        table(f"{'NAME':<24} {'VER':<5} {'DEFINITION':<12}  UPDATED",
              (f"{r['name']:<24} v{r['version']:<4} {r['definition_hash'][:12]}  "
               f"{r['updated_at']}" for r in rows))

    ctx.emit(ctx.service().list_workflows(), human)


@workflow.command("show")
@click.argument("name")
@click.option("--hash", "by_hash", is_flag=True, help="NAME is a definition hash (prefix).")
@json_option
@pass_ctx
def show(ctx: CliContext, name: str, by_hash: bool) -> None:
    """The newest definition of NAME (normalized), as JSON."""
    svc = ctx.service()
    ctx.emit(svc.get_definition(name) if by_hash
             else svc.get_workflow(strip_workflow_prefix(name)))


@workflow.command("log")
@click.argument("name")
@json_option
@pass_ctx
def log(ctx: CliContext, name: str) -> None:
    """Every version of NAME, newest first."""
    def human(rows: list[dict]) -> None:
        table(f"{'VER':<5} {'DEFINITION':<64}  {'REGISTERED':<27}  BY",
              (f"v{r['version']:<4} {r['definition_hash']}  {r['registered_at']}  "
               f"{r['registered_by']}" for r in rows))

    ctx.emit(ctx.service().workflow_versions(strip_workflow_prefix(name)), human)


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    group.add_command(workflow)

"""`wfobj` object commands: init, put, cat, show, type, ls, refs, log, walk, fsck, gc
(the tree halves of put and cat: cli/trees.py)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import TYPE_CHECKING, BinaryIO

import click

from .context import CliContext, Command, json_option, late_options, pass_ctx
from .human import shown, table
from .trees import check_folder, store_folder, tree_file_pieces

if TYPE_CHECKING:
    from wfobj.objstore import ObjectStore

WORKFLOW_REFS = "workflows/"  # engine.workflows.REF_PREFIX, as users type it

LOG_FIELDS = ("version", "name", "state", "registered_by", "triggered_by")


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    for command in (init, put, cat, show, type_, ls, refs, log, walk, fsck_command, gc_command):
        group.add_command(command)


def _resolve(ctx: CliContext, text: str) -> tuple[ObjectStore, str]:
    store = ctx.store()
    return store, store.resolve(text)


def _summary(store: ObjectStore, oid: str) -> dict:
    return {"hash": oid, "type": store.type_of(oid), "size": store.size_of(oid)}


@click.command()
@click.argument("path", required=False, type=click.Path())
@pass_ctx
def init(ctx: CliContext, path: str | None) -> None:
    """Create a store at PATH (default: --store / WFOBJ_STORE)."""
    target = path or ctx.store_path
    if not target:
        raise click.UsageError("no store: pass PATH, --store PATH or set WFOBJ_STORE")
    from wfobj.objstore import init_store

    try:
        store = init_store(target)
    except OSError as exc:
        raise click.ClickException(f"cannot create a store at {target}: "
                                   f"{exc.strerror or exc}") from None
    store.close()
    click.echo(f"initialized wfobj store at {os.path.abspath(target)}")


def _open_inputs(paths: tuple[str, ...]) -> list[tuple[str, BinaryIO | None]]:
    """Open every file and check every folder (None) before storing anything, so one bad
    path stores nothing."""
    opened: list[tuple[str, BinaryIO | None]] = []
    try:
        for path in paths:
            if path == "-":
                opened.append((path, sys.stdin.buffer))
            elif os.path.isdir(path):
                check_folder(path)
                opened.append((path, None))
            else:
                try:
                    opened.append((path, open(path, "rb")))  # noqa: SIM115 - closed below
                except OSError as exc:
                    raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    except BaseException:
        for path, stream in opened:
            if path != "-" and stream is not None:
                stream.close()
        raise
    return opened


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE|DIR…")
@json_option
@pass_ctx
def put(ctx: CliContext, files: tuple[str, ...]) -> None:
    """Store FILE… as blobs (streamed; `-` reads stdin) and DIR… as trees, and print
    their hashes: in --store, or with --server sent to the server."""
    results = []
    for path, stream in _open_inputs(files):
        if stream is None:
            results.append({"path": path, **store_folder(ctx, path, checked=True)})
            continue
        with stream if path != "-" else contextlib.nullcontext():
            try:
                stored = _store_file(ctx, stream)
            except OSError as exc:
                raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from None
        results.append({"path": path, **stored})
    ctx.emit(results, lambda rows: [click.echo(r["hash"]) for r in rows])


def _store_file(ctx: CliContext, stream: BinaryIO) -> dict:
    """One file as a blob: streamed to --server (which must name the hash computed while
    sending), else into --store. {"hash", "size"}"""
    if ctx.server:
        stored = ctx.service().put_file(stream)
        return {"hash": stored["hash"], "size": stored["size"]}
    oid, size = ctx.store().put_stream(stream)
    return {"hash": oid, "size": size}


@click.command()
@click.argument("hash_", metavar="HASH[:PATH]")
@pass_ctx
def cat(ctx: CliContext, hash_: str) -> None:
    """Write the exact bytes whose BLAKE3 is HASH (verified) to stdout; HASH:PATH, the
    file at PATH inside tree HASH (also over --server)."""
    if ":" in hash_:
        pieces = tree_file_pieces(ctx, hash_)
    else:
        store, oid = _resolve(ctx, hash_)
        pieces = store.iter_blob(oid)
    out = sys.stdout.buffer
    for piece in pieces:
        out.write(piece)
    out.flush()


@click.command()
@click.argument("hash_")
@json_option
@pass_ctx
def show(ctx: CliContext, hash_: str) -> None:
    """Show a structured object as JSON (links as hashes); a blob is described."""
    from wfobj.objstore import to_json

    store, oid = _resolve(ctx, hash_)
    if store.type_of(oid) == "blob":
        info = _summary(store, oid)
        info["chunks"] = len(store.chunk_list(oid))
        ctx.emit(info, lambda i: click.echo(
            f"blob {i['hash']}, {i['size']} bytes"
            + (f" in {i['chunks']} chunks" if i["chunks"] else "")
            + f" (use `wfobj cat {i['hash'][:12]}` for the content)"))
        return
    value = to_json(store.get_object(oid))
    click.echo(json.dumps(value, indent=None if ctx.json else 2, ensure_ascii=False))


@click.command(name="type")
@click.argument("hash_")
@pass_ctx
def type_(ctx: CliContext, hash_: str) -> None:
    """Print the type of HASH: blob, or a structured object's type."""
    store, oid = _resolve(ctx, hash_)
    click.echo(store.type_of(oid))


@click.command()
@json_option
@pass_ctx
def ls(ctx: CliContext) -> None:
    """List every object: hash, type, size."""
    store = ctx.store()
    rows = [_summary(store, oid) for oid in store]
    ctx.emit(rows, lambda rs: table(f"{'HASH':<64}  {'TYPE':<16} {'SIZE':>12}", (
        f"{r['hash']}  {r['type']:<16} {r['size']:>12}" for r in rs)))


@click.command()
@json_option
@pass_ctx
def refs(ctx: CliContext) -> None:
    """List every ref: hash and name."""
    rows = [{"name": name, "hash": oid} for name, oid in ctx.store().refs()]
    ctx.emit(rows, lambda rs: table(f"{'HASH':<64}  NAME",
                                    (f"{r['hash']}  {r['name']}" for r in rs)))


def _log_entry(store: ObjectStore, oid: str) -> dict:
    from wfobj.objstore import to_json

    entry = {"hash": oid, "type": store.type_of(oid)}
    if entry["type"] != "blob":
        value = to_json(store.get_object(oid))
        for key, item in value.items():
            if (key.endswith("_at") or key in LOG_FIELDS) and not isinstance(item, dict | list):
                entry[key] = item
    return entry


def _ref_or_hash(store: ObjectStore, ref: str) -> str:
    """REF as a ref name, a workflow name (`workflows/` may be left out) or a hash prefix."""
    from wfobj.objstore import RefNotFound

    for name in (ref, WORKFLOW_REFS + ref):
        try:
            return store.get_ref(name)
        except (RefNotFound, ValueError):
            continue
    try:
        return store.resolve(ref)
    except (KeyError, ValueError):
        raise click.ClickException(f"not found: {ref} (neither a ref, a workflow nor a "
                                   "hash)") from None


@click.command()
@click.argument("ref")
@json_option
@pass_ctx
def log(ctx: CliContext, ref: str) -> None:
    """Follow REF's object and its `previous` links, newest first (REF: a ref, a workflow
    name without `workflows/`, or a hash prefix)."""
    from wfobj.objstore import follow_chain

    store = ctx.store()
    start = _ref_or_hash(store, ref)
    entries = [_log_entry(store, oid) for oid in follow_chain(store, start)]

    def human(rows: list[dict]) -> None:
        for row in rows:
            extra = "  ".join(f"{k}={shown(v)}" for k, v in row.items()
                              if k not in ("hash", "type"))
            click.echo(f"{row['hash']}  {row['type']}" + (f"  {extra}" if extra else ""))

    ctx.emit(entries, human)


@click.command()
@click.argument("hash_")
@json_option
@pass_ctx
def walk(ctx: CliContext, hash_: str) -> None:
    """Print the object graph below HASH as an indented tree (shared parts shown once)."""
    from wfobj.objstore import walk_graph

    store, oid = _resolve(ctx, hash_)
    rows = []
    for entry in walk_graph(store, oid):
        row = {"depth": entry.depth, "field": entry.label, "hash": entry.oid,
               "repeated": entry.repeated}
        if not entry.repeated:
            row.update(type=store.type_of(entry.oid), size=store.size_of(entry.oid))
        rows.append(row)

    def human(rs: list[dict]) -> None:
        for r in rs:
            label = f"{r['field']}: " if r["field"] else ""
            tail = "(shown above)" if r["repeated"] else f"{r['type']} {r['size']}"
            click.echo(f"{'  ' * r['depth']}{label}{r['hash']} {tail}")

    ctx.emit(rows, human)


@click.command(name="fsck")
@click.option("--sample", "sample_text", default=None, metavar="N%",
              help="Re-hash only this share of the objects (links and refs: always all).")
@json_option
@pass_ctx
def fsck_command(ctx: CliContext, sample_text: str | None) -> None:
    """Verify every object, link and ref; exit 1 naming each damaged hash."""
    from wfobj.objstore import fsck_store, parse_sample

    try:
        sample = parse_sample(sample_text) if sample_text is not None else 1.0
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sample") from None
    report = fsck_store(ctx.store(), sample=sample)

    def human(data: dict) -> None:
        click.echo(f"checked {data['checked']} of {data['objects']} objects, "
                   f"{data['refs']} refs")
        for item in data["damage"]:
            click.echo(f"damaged {item['hash']}: {item['kind']}: {item['detail']}")
        if data["unreachable"]:
            click.echo(f"{len(data['unreachable'])} unreachable objects (no ref leads to "
                       "them; harmless)")
        click.echo("ok" if data["ok"] else f"{len(data['damage'])} problems found")

    ctx.emit(report.to_json(), human)
    if not report.ok:
        sys.exit(1)


def _grace_option() -> list[click.Parameter]:
    from wfobj.objstore import DEFAULT_GRACE

    return [click.Option(["--grace", "grace_text"], default=f"{int(DEFAULT_GRACE) // 3600}h",
                         show_default=True, metavar="DURATION",
                         help="Keep anything stored or needed this recently (e.g. 30m, 2h, "
                              "1d; at least 10m).")]


@click.command(name="gc", cls=Command)
@click.option("--dry-run", is_flag=True, help="Report what would be removed; remove nothing.")
@late_options(_grace_option)
@json_option
@pass_ctx
def gc_command(ctx: CliContext, dry_run: bool, grace_text: str) -> None:
    """Remove objects that no ref and no run in progress reaches and that are older than
    the grace period; print what was freed."""
    from wfobj.engine import collect_garbage
    from wfobj.objstore import parse_duration

    try:
        grace = parse_duration(grace_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--grace") from None
    report = collect_garbage(ctx.store(), grace=grace, dry_run=dry_run)

    def human(data: dict) -> None:
        verb = "would remove" if data["dry_run"] else "removed"
        click.echo(f"{verb} {data['removed']} of {data['objects']} objects, "
                   f"{data['freed_bytes']} bytes ({data['reachable']} reachable, "
                   f"{data['young']} younger than {grace_text})")

    ctx.emit(report.to_json(), human)

"""`wfobj` tree commands (directories as objects): ls-tree, checkout, and the folder and
HASH:PATH halves of put and cat; on --store, or over --server when one is given."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from .context import CliContext, json_option, pass_ctx
from .human import table

if TYPE_CHECKING:
    from wfobj.objstore import StoredTree

KIND_SHOWN = {("dir", False): "dir", ("file", False): "file", ("file", True): "exec"}


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    for command in (ls_tree, checkout):
        group.add_command(command)


@contextlib.contextmanager
def folder_named(folder: str) -> Iterator[None]:
    """A folder's refusal (a path inside it) as one line naming the folder too."""
    from wfobj.objstore import TreeRefused

    try:
        yield
    except TreeRefused as exc:
        raise click.ClickException(f"cannot store {folder} as a tree: {exc}") from None


def check_folder(folder: str) -> None:
    """Refuse the folder as storing it would (a link, device, FIFO, socket, bad name, or
    past a bound), reading no file: called before anything is stored or sent."""
    from wfobj.objstore import scan_directory

    with folder_named(folder):
        for _ in scan_directory(folder):
            pass


def store_folder(ctx: CliContext, folder: str, *, checked: bool = False) -> dict:
    """Store the folder as a tree: in --store, or streamed as a tar to --server (checked
    whole first, unless the caller just did with check_folder, and the server must name
    the tree computed here). Storing walks the folder again and refuses what changed
    since the check (a link put in a file's place, a new bad entry). {"hash", "files",
    "size"}"""
    if not checked:
        check_folder(folder)
    with folder_named(folder):
        if ctx.server:
            return ctx.service().put_directory(folder)
        from wfobj.objstore import put_directory

        return put_directory(ctx.store(), folder).to_json()


def tree_file_pieces(ctx: CliContext, spec: str) -> Iterator[bytes]:
    """The verified bytes of the file SPEC (`HASH:PATH`) names."""
    text, _, path = spec.partition(":")
    if ctx.server:
        svc = ctx.service()
        entry = svc.tree_entry(text, path)
        _refuse_directory(entry["kind"], text, path)
        return svc.iter_tree_file(text, path, entry["hash"])
    from wfobj.objstore import entry_at

    store = ctx.store()
    entry = entry_at(store, store.resolve(text), path)
    _refuse_directory(entry.kind, text, path)
    return store.iter_blob(entry.oid)


def _refuse_directory(kind: str, text: str, path: str) -> None:
    if kind != "file":
        raise click.ClickException(f"{path or '(the root)'} in tree {text} is a directory, "
                                   "not a file (`wfobj ls-tree` lists it)")


@click.command("ls-tree")
@click.argument("hash_", metavar="HASH")
@click.option("-r", "--recursive", is_flag=True,
              help="List every file below, by its full path, instead of the entries.")
@json_option
@pass_ctx
def ls_tree(ctx: CliContext, hash_: str, recursive: bool) -> None:
    """List the entries of tree HASH: kind (dir, file, exec), size, hash, name."""
    listing = ctx.service().get_tree(hash_, recursive=recursive)

    def human(data: dict) -> None:
        table(f"{'KIND':<4}  {'SIZE':>12}  {'HASH':<64}  {'PATH' if recursive else 'NAME'}", (
            f"{KIND_SHOWN[e['kind'], e['executable']]:<4}  {e['size']:>12}  {e['hash']}  "
            f"{e['path'] if recursive else e['name']}" for e in data["entries"]))

    ctx.emit(listing, human)


@click.command()
@click.argument("hash_", metavar="HASH")
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False))
@json_option
@pass_ctx
def checkout(ctx: CliContext, hash_: str, directory: str) -> None:
    """Write tree HASH into DIR (new, or empty): every file verified against its hash
    before it gets its name, executable bits restored."""
    stored = _checkout(ctx, hash_, directory)
    ctx.emit({"path": directory, **stored.to_json()}, lambda d: click.echo(
        f"checked out {d['hash']} into {d['path']}: {d['files']} files, {d['size']} bytes"))


def _checkout(ctx: CliContext, text: str, directory: str) -> StoredTree:
    from wfobj.objstore import checkout_archive, checkout_tree, is_hash

    if ctx.server:
        svc = ctx.service()
        oid = text if is_hash(text) else svc.get_tree(text)["hash"]
        return checkout_archive(svc.tree_archive(oid), oid, directory)
    store = ctx.store()
    return checkout_tree(store, store.resolve(text), directory)

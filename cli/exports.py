"""`wfobj export`, `verify` and `keys`: provenance exports of a run, checking a signed one,
and the keys that check it."""

from __future__ import annotations

import os
import sys

import click

from .context import CliContext, Command, json_option, late_options, pass_ctx
from .run_ref import run_id_argument


def _format_argument() -> list[click.Parameter]:
    from wfobj.engine import FORMATS

    return [click.Argument(["fmt"], metavar="FORMAT", type=click.Choice(FORMATS))]


def _files_option() -> list[click.Parameter]:
    from wfobj.engine import FILE_MODES

    return [click.Option(["--files"], type=click.Choice(FILE_MODES), default="all",
                         show_default=True, help="ro-crate: put the files' bytes in the zip "
                                                 "(all) or only list them (none).")]


@click.command("export", cls=Command)
@late_options(_format_argument)
@run_id_argument
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write the export to this file (default: standard output).")
@late_options(_files_option)
@pass_ctx
def export(ctx: CliContext, fmt: str, run_id: str, output: str | None, files: str) -> None:
    """Write RUN as FORMAT: ro-crate, prov, openlineage or in-toto (docs/exports.md)."""
    if output is None and fmt == "ro-crate" and sys.stdout.isatty():
        raise click.UsageError("a crate is a zip: pass -o FILE or redirect standard output")
    result = ctx.service().export_run(run_id, fmt, files=files)
    if output is None:
        write_pieces(result, sys.stdout.buffer)
        sys.stdout.flush()
        return
    part = f"{output}.part"  # renamed once whole: a cut-off export leaves nothing behind
    try:
        with open(part, "wb") as fh:
            size = write_pieces(result, fh)
        os.replace(part, output)
    finally:
        if os.path.exists(part):
            os.unlink(part)
    click.echo(f"wrote {fmt} export of run {run_id} to {output} ({size} bytes)", err=True)


def write_pieces(export, fh) -> int:
    """Write an export's pieces as they are made (an export is read once, never held
    whole); the bytes written."""
    size = 0
    for piece in export:
        fh.write(piece)
        size += len(piece)
    return size


@click.command("verify")
@click.argument("file", type=click.File("rb"))
@click.option("--key", "key_file", type=click.File("r"),
              help="PEM public key to verify with (default: the --server's GET /api/keys, "
                   "or the --store's own key).")
@json_option
@pass_ctx
def verify(ctx: CliContext, file, key_file) -> None:
    """Check a signed in-toto export: the signature and, with a --store or --server,
    every subject's digests against the files' bytes."""
    data = file.read()
    keys = [key_file.read()] if key_file is not None else None
    if ctx.server or ctx.store_path:
        result = ctx.service().verify_export(data, keys)
    elif keys is not None:
        from wfobj.engine import PublicKey, verify_attestation

        result = verify_attestation(data, [PublicKey.from_pem(keys[0])]).to_json()
    else:
        raise click.UsageError("nothing to verify with: pass --key PEM, --store or --server")

    with_files = bool(ctx.server or ctx.store_path)

    def human(r: dict) -> None:
        checked = (f"{r['subjects_checked']} of {r['subjects']} subjects match their files"
                   if with_files else
                   f"{r['subjects']} subjects not checked (no --store or --server)")
        click.echo(f"ok: signed by key {r['keyid']} for run {r['run_id']}; {checked}")

    ctx.emit(result, human)


@click.command("keys")
@json_option
@pass_ctx
def keys(ctx: CliContext) -> None:
    """The public keys signed exports verify with (the --store's own, or the --server's)."""
    def human(rows: list[dict]) -> None:
        for k in rows:
            click.echo(f"{k['keyid']} {k['algorithm']}")
            click.echo(k["public_key_pem"], nl=False)

    ctx.emit(ctx.service().public_keys(), human)


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    group.add_command(export)
    group.add_command(verify)
    group.add_command(keys)

"""`wfobj cwl run` and the `wfobj-cwl-runner` command: CWL v1.2 documents run through the
engine (docs/cwl.md). cwltool loads, validates and drives the document; every
CommandLineTool job is a wfobj run on the store (cli/cwl_jobs.py). The reference runner's
interface: the CWL output object as JSON on standard output, exit 0 on success, 33 for an
unsupported requirement, another non-zero code for any other failure."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import click

from .context import CliContext

UNSUPPORTED = 33  # the exit code cwltest counts as "unsupported feature"


@click.group("cwl")
def cwl_group() -> None:
    """Run Common Workflow Language (CWL v1.2) documents through the engine."""


def run_options(fn):
    fn = click.argument("job", required=False, type=click.Path(dir_okay=False))(fn)
    fn = click.argument("process")(fn)
    fn = click.option("--default-image", default=None, metavar="IMAGE",
                      envvar="WFOBJ_CWL_DEFAULT_IMAGE",
                      help="Image for tools without a DockerRequirement (env WFOBJ_CWL_DEFAULT_IMAGE; "
                           "default: wfobj/toolbox:local).")(fn)
    fn = click.option("--quiet", is_flag=True, help="Only the output object (and errors).")(fn)
    fn = click.option("--debug", is_flag=True, help="cwltool's debug log on standard error.")(fn)
    fn = click.option("--outdir", default=".", type=click.Path(file_okay=False),
                      show_default=True, help="Where the output files are written.")(fn)
    return fn


@cwl_group.command("run")
@run_options
@click.pass_context
def cwl_run(click_ctx: click.Context, outdir: str, debug: bool, quiet: bool,
            default_image: str | None, process: str, job: str | None) -> None:
    """Run the CWL PROCESS (a CommandLineTool, ExpressionTool or Workflow) with the inputs
    of JOB (YAML or JSON). With --store the runs stay in that store; without, in a
    temporary one."""
    ctx = click_ctx.ensure_object(CliContext)
    code = run_cwl(ctx.store_path, outdir=outdir, debug=debug, quiet=quiet,
                   default_image=default_image, process=process, job=job,
                   server=ctx.server, token=ctx.token)
    sys.exit(code)


@contextmanager
def engine_store(store_path: str | None) -> Iterator[tuple[str, bool]]:
    """(store path, temporary?): the given store, or a fresh one removed afterwards."""
    if store_path:
        yield store_path, False
        return
    with tempfile.TemporaryDirectory(prefix="wfobj-cwl-store-") as tmp:
        yield os.path.join(tmp, "store"), True


def run_cwl(store_path: str | None, *, outdir: str, debug: bool, quiet: bool,
            default_image: str | None, process: str, job: str | None,
            server: str | None = None, token: str | None = None) -> int:
    """Run one CWL document; the exit code of the reference runner's interface. With
    `server`, every job runs on that server (as the token's user): inputs go up as trees,
    outputs come back as trees checked against their hashes."""
    from cwltool.argparser import arg_parser
    from cwltool.context import LoadingContext
    from cwltool.main import main as cwltool_main
    from cwltool.workflow import default_make_tool

    from wfobj.objstore import init_store, open_store

    from . import cwl_jobs
    from .workflows import local_user

    image = default_image or cwl_jobs.DEFAULT_IMAGE
    argv = ["--outdir", outdir, "--default-container", image, "--relax-path-checks",
            "--disable-color"]
    argv += ["--debug"] if debug else []
    argv += ["--quiet"] if quiet else []
    argv += [process] + ([job] if job else [])
    args = arg_parser().parse_args(argv)
    document = process.split("#", 1)[0]

    def drive(backend: cwl_jobs.EngineBackend) -> int:
        backend.document = document if os.path.isfile(document) else None
        loading = LoadingContext(vars(args))
        loading.construct_tool_object = cwl_jobs.make_tool_factory(default_make_tool, backend)
        return cwltool_main(args=args, loadingContext=loading)

    if server:
        remote = CliContext(server=server, token=token).service()
        return drive(cwl_jobs.EngineBackend(service=remote, trees=cwl_jobs.ServerTrees(remote),
                                            user=None, quiet=quiet))
    with engine_store(store_path) as (path, fresh):
        store = init_store(path) if fresh or not os.path.exists(path) else open_store(path)
        ctx = CliContext(store_path=path, _store=store)
        return drive(cwl_jobs.EngineBackend(service=ctx.service(),
                                            trees=cwl_jobs.LocalTrees(store),
                                            user=local_user(), quiet=quiet))


def runner_main() -> None:
    """The `wfobj-cwl-runner` console script: `[--outdir D] [--quiet] PROCESS [JOB]`,
    the store from --store or WFOBJ_STORE (default: a temporary one)."""
    runner(prog_name="wfobj-cwl-runner")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", envvar="WFOBJ_STORE", type=click.Path(),
              help="Store to keep the runs in (default: a temporary one).")
@click.option("--server", envvar="WFOBJ_SERVER", help="Run the jobs on this wfobj server.")
@click.option("--token", envvar="WFOBJ_TOKEN", help="API token for --server.")
@run_options
def runner(store: str | None, server: str | None, token: str | None, outdir: str, debug: bool,
           quiet: bool, default_image: str | None, process: str, job: str | None) -> None:
    """Run a CWL document through the wfobj engine (the reference runner's interface)."""
    sys.exit(run_cwl(store, outdir=outdir, debug=debug, quiet=quiet,
                     default_image=default_image, process=process, job=job,
                     server=server, token=token))


def register(group: click.Group) -> None:
    """Add this module's commands to `group`."""
    group.add_command(cwl_group)

"""CWL CommandLineTool jobs run as wfobj runs (docs/cwl.md).

cwltool loads and validates the document, evaluates expressions, builds each job's command
line and collects its outputs; this module replaces only the part that runs a job. A job
becomes a one-task wfobj workflow on the engine:

- everything the job reads (its inputs, InitialWorkDirRequirement entries, literal files)
  is laid out in one staging folder, stored as a tree and given as the `dir` param `stage`,
  mounted read-only at /in/stage (cwltool's stage directory);
- the task runs `sh /in/stage/.wfobj/run.sh`: the script (in the staged tree, so recorded
  by hash with the attempt) copies what must sit in the output directory, changes to
  /out/o (cwltool's output directory, `$(runtime.outdir)`), runs the command line with the
  job's environment and redirections, and writes the exit code as the var `rc`;
- `/out/o` is the task's one output directory: its tree is checked out into the job's host
  output directory and cwltool's own output collection (globs, outputEval, secondaryFiles)
  runs on it, judging the exit code by successCodes / permanentFailCodes.

So every CommandLineTool job is an attempt with full evidence (image id, command, inputs by
hash, outputs by hash) in the store, and everything else (workflows, scatter, `when`,
ExpressionTools) is cwltool's.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, unquote

from cwltool.command_line_tool import CommandLineTool
from cwltool.errors import UnsupportedRequirement, WorkflowException
from cwltool.job import JobBase
from cwltool.loghandler import _logger

from wfobj.engine import (
    CWL_DEFAULT_IMAGE,
    CWL_OUT_DIR,
    CWL_OUT_NAME,
    CWL_SCRIPT,
    CWL_STAGE_DIR,
    CWL_TMP_DIR,
    StagingPlan,
    image_of,
    job_script,
    resources_of,
)

if TYPE_CHECKING:
    from cwltool.context import LoadingContext, RuntimeContext
    from cwltool.pathmapper import MapperEnt

    from wfobj.engine import Service
    from wfobj.objstore import ObjectStore

STAGE_DIR, OUT_NAME, OUT_DIR, TMP_DIR = CWL_STAGE_DIR, CWL_OUT_NAME, CWL_OUT_DIR, CWL_TMP_DIR
SCRIPT, DEFAULT_IMAGE = CWL_SCRIPT, CWL_DEFAULT_IMAGE
TASK = "tool"


class JobTrees(Protocol):
    """Where a job's staging folder is stored as a tree, its output tree checked out, and
    the CWL document run stored as a blob: a local store or a server."""

    def put(self, folder: str) -> str:
        """Store the folder as a tree; its hash."""

    def checkout(self, oid: str, dest: str) -> None:
        """Write the tree `oid` into `dest` (absent, or an empty folder), verified."""

    def put_file(self, path: str) -> str:
        """Store the file's bytes as a blob; its hash."""


@dataclass
class LocalTrees:
    """Trees in a local store."""

    store: ObjectStore

    def put(self, folder: str) -> str:
        from wfobj.objstore import put_directory

        return str(put_directory(self.store, folder).oid)

    def checkout(self, oid: str, dest: str) -> None:
        from wfobj.objstore import checkout_tree

        checkout_tree(self.store, oid, dest)

    def put_file(self, path: str) -> str:
        with open(path, "rb") as f:
            return str(self.store.put_stream(f)[0])


@dataclass
class ServerTrees:
    """Trees on a server (`wfobj --server`): the staging folder streamed up as a tar (the
    server must name the tree hashed here), the output tree fetched as a tar and checked
    against its hash before any entry gets its name."""

    service: Any  # the CLI's RemoteService

    def put(self, folder: str) -> str:
        return str(self.service.put_directory(folder)["hash"])

    def checkout(self, oid: str, dest: str) -> None:
        from wfobj.objstore import checkout_archive

        checkout_archive(self.service.tree_archive(oid), oid, dest)

    def put_file(self, path: str) -> str:
        with open(path, "rb") as f:
            return str(self.service.put_file(f)["hash"])


@dataclass
class EngineBackend:
    """Where jobs run: a service (local or a server's) and where its trees go, as `user`."""

    service: Service
    trees: JobTrees
    user: str | None
    quiet: bool = False
    runs: list[str] = field(default_factory=list)  # run ids, in the order jobs ran
    document: str | None = None  # the CWL file that was run (PROCESS without its #fragment)
    _document_hash: str | None = None

    def source_of(self, job: JobBase) -> dict | None:
        """The definition's `source` (docs/workflow-format.md): the CWL document that was
        run, stored as a blob once, and the job's tool within it (its id, relative to the
        document's folder)."""
        if self.document is None:
            return None
        if self._document_hash is None:
            self._document_hash = self.trees.put_file(self.document)
        source = {"language": "cwl", "document": self._document_hash,
                  "version": str(job.builder.cwlVersion or "v1.2")}
        tool_id = getattr(job, "wfobj_tool_id", "")
        base = "file://" + quote(os.path.dirname(os.path.abspath(self.document))) + "/"
        if tool_id.startswith(base):
            source["process"] = unquote(tool_id[len(base):])[:1000]
        else:  # an anonymous tool written inline in the document
            source["process"] = os.path.basename(self.document)[:1000] or "workflow.cwl"
        return source


def workflow_name(job_name: str) -> str:
    """`cwl-` and the job's name without cwltool's `_2`, `_3`… (scatter items, repeats),
    so every job of one tool is a run of one workflow."""
    base = re.sub(r"_\d+$", "", job_name or "") or "tool"
    return ("cwl-" + re.sub(r"[^A-Za-z0-9_-]", "-", base))[:100]


def definition_for(job: JobBase) -> dict:
    task: dict[str, Any] = {
        "image": image_of(job),
        "command": ["sh", f"{STAGE_DIR}/{SCRIPT}"],
        "inputs": {"stage": {"param": "stage"}},
        "outputs": {"files": [OUT_NAME], "vars": ["rc"]},
        "env": job._required_env(),
        "network": bool(job.networkaccess),
    }
    if job.timelimit:
        task["timeout"] = job.timelimit
    resources = resources_of(job)
    if resources:
        task["resources"] = resources
    return {"description": "a CWL CommandLineTool job (docs/cwl.md)",
            "params": {"stage": {"type": "dir"}}, "tasks": {TASK: task}}


SECRET_ENV = "WFOBJ_CWL_SECRET_"  # + n: the task's env var holding a job's n-th secret
PLACEHOLDER = re.compile(r"\(secret-([0-9a-f-]{36})\)")  # cwltool's SecretStore placeholder


@dataclass
class JobSecrets:
    """cwltool's `secrets` hint (http://commonwl.org/cwltool#Secrets) on the engine's
    secrets (docs/secrets.md). cwltool replaces each secret input by a placeholder
    `(secret-UUID)` before anything is built from it, so the command line and environment
    cwltool gives a job hold placeholders only. Each placeholder the job's script holds
    becomes an engine secret `cwl-UUID`, set just before the run and removed when it ends,
    given to the task as the env var WFOBJ_CWL_SECRET_<n>; the script copies it to a
    shell variable, unsets it, and expands that variable where the placeholder was. So
    the value is never in the staged tree, the definition, the params, the evidence or a
    log (the engine masks it in the task's streams)."""

    values: dict[str, str]  # placeholder -> value (cwltool's SecretStore)
    used: dict[str, int] = field(default_factory=dict)  # placeholder -> n, as found

    @classmethod
    def of(cls, secret_store: Any) -> JobSecrets:
        return cls(dict(getattr(secret_store, "secrets", None) or {}))

    def refuse_in_file(self, vol: MapperEnt) -> None:
        """A file written from a secret (an InitialWorkDir entry's contents) would be
        stored in the staged tree: refused as unsupported."""
        if vol.type in ("CreateFile", "CreateWritableFile") and PLACEHOLDER.search(vol.resolved):
            raise UnsupportedRequirement(f"a secret in the contents of {vol.target}: wfobj "
                                         "stores every staged file, so it passes secrets "
                                         "only on the command line and in the environment")

    def script(self, text: str) -> str:
        """The script with every known placeholder expanded from a shell variable. The
        script quotes every word with shlex.quote, so a placeholder (no quote in it) always
        sits inside single quotes: closing them around `"$var"` is exact."""

        def expand(m: re.Match) -> str:
            placeholder = m.group(0)
            if placeholder not in self.values:
                return placeholder
            if not self.values[placeholder]:  # nothing to hide (and the engine keeps no
                return ""                     # empty secret)
            n = self.used.setdefault(placeholder, len(self.used))
            return f"'\"$wfobj_secret_{n}\"'"

        body = PLACEHOLDER.sub(expand, text)
        head = [f'wfobj_secret_{n}="${SECRET_ENV}{n}"; unset {SECRET_ENV}{n}'
                for n in self.used.values()]
        return "\n".join(head + [body]) if head else body

    def name(self, placeholder: str) -> str:
        return "cwl-" + PLACEHOLDER.fullmatch(placeholder).group(1)

    def task_secrets(self) -> dict:
        return {f"{SECRET_ENV}{n}": {"secret": self.name(p)} for p, n in self.used.items()}

    @contextmanager
    def kept_by(self, service: Any, user: str | None) -> Iterator[None]:
        """The used secrets set on `service` for the block, removed after it."""
        done: list[str] = []
        try:
            for placeholder in self.used:
                service.set_secret(self.name(placeholder),
                                   self.values[placeholder].encode(), user=user)
                done.append(self.name(placeholder))
            yield
        finally:
            for name in done:
                service.remove_secret(name)


class EngineJob(JobBase):
    """A cwltool job that runs as a one-task wfobj run (see the module docstring)."""

    wfobj_backend: EngineBackend
    wfobj_tool_id: str = ""  # the id cwltool gave the tool (`file:///…/tool.cwl#…`)

    def run(self, runtimeContext: RuntimeContext, tmpdir_lock: Any = None) -> None:
        backend = self.wfobj_backend
        outputs: dict = {}
        status = "permanentFail"
        try:
            self._setup(runtimeContext)
            rc = self._run_on_engine(backend, runtimeContext)
            if rc is not None:
                self._write_back()
                outputs = self.collect_outputs(self.outdir, rc)  # may refuse: then a failure
                status = self._status(rc)
        except UnsupportedRequirement:
            raise
        except WorkflowException as err:
            _logger.error("[job %s] Job error:\n%s", self.name, err)
        except Exception as err:  # the engine's or the server's refusal: the job failed
            _logger.error("[job %s] wfobj: %s", self.name, err)
        with runtimeContext.workflow_eval_lock:
            if self.output_callback:
                self.output_callback(outputs, status)

    def _required_env(self) -> dict[str, str]:
        """HOME and TMPDIR as CWL wants them, in the container."""
        return {"HOME": self.builder.outdir, "TMPDIR": TMP_DIR}

    def _status(self, rc: int) -> str:
        if rc in self.successCodes:
            return "success"
        if rc in self.temporaryFailCodes:
            return "temporaryFail"
        if rc in self.permanentFailCodes or rc != 0:
            _logger.warning("[job %s] exited with status: %d", self.name, rc)
            return "permanentFail"
        return "success"

    def _stage(self, backend: EngineBackend, secrets: JobSecrets) -> str:
        """The staging folder stored as a tree (its hash): the job's files and the script,
        whose secret placeholders become shell variables set from the task's secrets."""
        root = tempfile.mkdtemp(prefix="wfobj-cwl-stage-")
        try:
            plan = StagingPlan(root)
            for mapper in (self.pathmapper, self.generatemapper):
                if mapper is None:
                    continue
                for _key, vol in mapper.items():
                    if vol.staged:
                        secrets.refuse_in_file(vol)
                        plan.add(vol)
            script = os.path.join(root, SCRIPT)
            os.makedirs(os.path.dirname(script), exist_ok=True)
            with open(script, "w", encoding="utf-8") as f:
                f.write(secrets.script(job_script(self, plan.copies)))
            return backend.trees.put(root)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _run_on_engine(self, backend: EngineBackend, runtimeContext: RuntimeContext) -> int | None:
        """Stage, run, check the output out; the exit code, or None if the attempt failed."""
        secrets = JobSecrets.of(runtimeContext.secret_store)
        stage = self._stage(backend, secrets)
        svc = backend.service
        name = workflow_name(self.name)
        definition = definition_for(self)
        source = backend.source_of(self)
        if source is not None:
            definition["source"] = source
        if secrets.used:
            definition["tasks"][TASK]["secrets"] = secrets.task_secrets()
        with secrets.kept_by(svc, backend.user):
            svc.apply_workflow(name, definition, user=backend.user)
            started = svc.trigger(name=name, parameters={"stage": stage}, user=backend.user)
            run_id = started["run_id"]
            backend.runs.append(run_id)
            svc.wait(run_id)
        task = svc.run_task(run_id, TASK)
        if task.get("state") != "success":
            _logger.error("[job %s] wfobj run %s: %s", self.name, run_id,
                          task.get("error") or task.get("state"))
            self._echo_logs(backend, task)
            return None
        self._echo_logs(backend, task)
        tree = next(o for o in task["outputs"] if o["path"] == OUT_NAME)
        if os.path.isdir(self.outdir) and not os.listdir(self.outdir):
            os.rmdir(self.outdir)
        backend.trees.checkout(tree["hash"], self.outdir)
        return int(task["vars"]["rc"])

    def _write_back(self) -> None:
        """InplaceUpdateRequirement: the job read copies of its writable entries (staged
        content-addressed, copied into the output folder by the script), so what the tool
        left at an entry's place is written back over the file or folder it came from,
        which later steps then read, and the entry in the output folder becomes a link to
        it (so an output globbing it is the updated original). The attempt's evidence keeps both versions by hash:
        the staged input and the output."""
        if not self.inplace_update:
            return
        for _key, vol in self.generatemapper.items() if self.generatemapper else ():
            if vol.type not in ("WritableFile", "WritableDirectory") or not vol.staged:
                continue
            rel = os.path.relpath(vol.target, self.builder.outdir)
            done = os.path.join(self.outdir, rel)
            if rel.startswith("..") or not os.path.lexists(done):
                continue
            if vol.type == "WritableFile":
                shutil.copyfile(done, vol.resolved)
                os.remove(done)
            else:
                shutil.rmtree(vol.resolved)
                shutil.copytree(done, vol.resolved, symlinks=False)
                shutil.rmtree(done)
            os.symlink(vol.resolved, done)  # as cwltool: the output is the updated original

    def _echo_logs(self, backend: EngineBackend, task: dict) -> None:
        """The tool's stderr from the attempt's evidence, as cwltool shows it (not with
        --quiet)."""
        text = (task.get("stderr") or {}).get("text")
        if text and not backend.quiet:
            _logger.info("[job %s] stderr:\n%s", self.name, text)


class EngineCommandLineTool(CommandLineTool):
    """cwltool's CommandLineTool whose jobs run on the engine, always in a container."""

    wfobj_backend: EngineBackend

    def make_job_runner(self, runtimeContext: RuntimeContext) -> type[JobBase]:
        super().make_job_runner(runtimeContext)  # adds the default image's DockerRequirement
        return EngineJob

    def job(self, job_order: Any, output_callbacks: Any, runtimeContext: RuntimeContext):
        rc = runtimeContext.copy()
        rc.docker_outdir, rc.docker_stagedir, rc.docker_tmpdir = OUT_DIR, STAGE_DIR, TMP_DIR
        for job in super().job(job_order, output_callbacks, rc):
            if isinstance(job, EngineJob):
                job.wfobj_backend = self.wfobj_backend
                job.wfobj_tool_id = str(self.tool.get("id") or "")
            yield job


def make_tool_factory(default: Callable, backend: EngineBackend) -> Callable:
    """cwltool's `construct_tool_object` with CommandLineTools running on `backend`."""

    def make_tool(toolpath_object: MutableMapping, loading_context: LoadingContext):
        if toolpath_object.get("class") == "CommandLineTool":
            tool = EngineCommandLineTool(toolpath_object, loading_context)
            tool.wfobj_backend = backend
            return tool
        return default(toolpath_object, loading_context)

    return make_tool

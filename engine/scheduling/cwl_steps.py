"""The `cwl` task kind (kinds.py): one step of a registered CWL document per task
(docs/cwl.md "Registering a CWL document").

render, when the attempt starts:
1. the step's CWL input object is built from the run's params (File → `file`, Directory →
   `dir`, File[] → a `dir`'s files, arrays of scalars → `list`) and the CWL output objects
   of the steps it reads (their var `cwl`), with cwltool's own step machinery: `source`,
   `default`, `linkMerge`, `pickValue`, then `valueFrom` (JavaScript in cwltool's sandboxed
   nodejs);
2. the Files and Directories it names (all in the store, by hash) are checked out into a
   private folder, and cwltool builds the job (command line, environment, redirections,
   InitialWorkDir, where each input goes) exactly as `wfobj cwl run` does;
3. the job's staging folder and script (cwl_staging.py) are stored as a tree: the attempt
   runs `sh /in/stage/.wfobj/run.sh` in the image DockerRequirement names, with the
   resources, time limit and network its requirements give, so it is cache-keyed and
   recorded like any attempt.

finish, after the container: the output directory /out/o is checked out and cwltool's
output collection (globs, outputEval, secondaryFiles, loadContents) runs on it; the exit
code is judged by successCodes / permanentFailCodes; the output object, every File and
Directory in it named by its hash (`location: wfobj:HASH`), becomes the var `cwl` that
downstream steps read.

An ExpressionTool step runs in the engine (no container): its expression is evaluated
with cwltool in nodejs and its output object is the var `cwl`.

Costs: a step's input files are written out once per attempt (bytes proportional to its
inputs) and read once more to store the staging tree; the loaded document is cached per
hash (engine/definitions/cwl_compile.py).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from wfobj.engine.clock import Clock
from wfobj.engine.definitions.cwl_compile import (
    CROSS_STEP,
    INPUTS_PARAM,
    INPUTS_STEP,
    ITEMS_VAR,
    OUTPUT_VAR,
    OUTPUTS_STEP,
    OUTPUTS_TASK,
    PARAMS_STEP,
    cross_task,
    find_step_in,
    holds_json,
    loaded_process,
    local,
)
from wfobj.engine.errors import CwlStepFailed
from wfobj.engine.executors.base import AttemptResult, InputFile, StoredText, TaskSpec
from wfobj.engine.model import DIR, FILE
from wfobj.engine.states import AttemptStatus
from wfobj.objstore import (
    PathNotInTree,
    TreeBuilder,
    checkout_tree,
    entry_at,
    put_directory,
    read_tree,
    scan_directory,
    walk_tree,
)

from .cwl_staging import (
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
from .fanout import Produced
from .gates import SKIP_CONDITION, Verdict
from .kinds import KindContext, Prepared

SCHEME = "wfobj:"  # a File's or Directory's location in a CWL object: wfobj:HASH
STAND_IN_BYTES = 64 * 1024  # cwltool's loadContents limit: what it may read of an input
KEPT_KEYS = ("class", "basename", "size", "checksum", "format", "contents", "secondaryFiles")


# ---- the CWL input object -----------------------------------------------------------
def cwl_value(store, cwl_type: Any, ptype: str, value: Any, name: str) -> Any:
    """A param's stored value as the CWL value of its input."""
    if ptype == "string" and holds_json(cwl_type):  # a record, a union, …: JSON text
        try:
            return json.loads(value)
        except ValueError:
            raise CwlStepFailed(f"input {name}: {value[:80]!r} is not JSON (a value of "
                             "this type is given as JSON text)") from None
    if isinstance(cwl_type, list):
        cwl_type = next(t for t in cwl_type if t != "null")
    if ptype == "file":  # its size known already, so a `when` may read it
        return {"class": "File", "location": SCHEME + value, "basename": name,
                "size": store.size_of(value)}
    if ptype == "dir":
        if isinstance(cwl_type, dict) and cwl_type.get("type") == "array":
            return [{"class": "File", "location": SCHEME + e.oid, "basename": e.name,
                     "size": e.size}
                    for e in read_tree(store, value).entries if e.kind != DIR]
        return {"class": "Directory", "location": SCHEME + value, "basename": name}
    if ptype == "float":
        return float(value)
    if ptype == "list":
        items = cwl_type.get("items") if isinstance(cwl_type, dict) else None
        if items in ("float", "double"):
            return [float(v) for v in value]
        return list(value)
    return value


def find_step(workflow: Any, step_id: str) -> Any:
    """The step `step_id` of `workflow` or of a subworkflow of it, at any depth."""
    step = find_step_in(workflow, step_id)
    if step is None:
        raise CwlStepFailed(f"the document has no step {step_id!r}")
    return step


def locate(context: KindContext) -> tuple[Any, Any, Any]:
    """(the process, the workflow holding the task's step, the step) of a CWL task (a
    task without `step` runs the document's process itself: workflow and step None)."""
    cwl = context.task.cwl
    process = loaded_process(b"".join(context.store.iter_blob(cwl["document"])),
                             cwl["document"])
    if "step" not in cwl:
        return process, None, None
    workflow = process if "process" not in cwl else find_step(process, cwl["process"]).embedded_tool
    if cwl["step"] in (OUTPUTS_STEP, PARAMS_STEP):
        return process, workflow, None
    return process, workflow, find_step(
        workflow, cwl["step"].removeprefix(INPUTS_STEP).removeprefix(CROSS_STEP))


SUB_OUTPUT_VAR = f"{OUTPUTS_TASK}.{OUTPUT_VAR}"  # a sub-workflow task's: its child's object


def sub_output(context: KindContext, task: str, names: tuple[str, ...] = ()) -> dict:
    """The CWL output object of a subworkflow step run as a child run: its workflow's
    (the child's task `cwl-outputs`, passed up as the var `cwl-outputs.cwl`); for a
    scattered one, each port the array of its instances' values (null for an instance its
    `when` skipped); all null when its `when` skipped it."""
    return upstream_output(context, task, names, SUB_OUTPUT_VAR)


def workflow_outputs(context: KindContext, workflow: Any) -> dict:
    """A workflow's CWL output object from its inputs and the output objects of the steps
    its `outputSource`s name (cwltool's own merging: linkMerge, pickValue)."""
    from cwltool.workflow_job import object_from_state

    state = source_state(context, workflow)
    multiple = bool(workflow.get_requirement("MultipleInputFeatureRequirement")[0])
    value = object_from_state(state, workflow.tool["outputs"], True, multiple, "outputSource",
                              incomplete=True)
    return value or {}


def param_values(context: KindContext, inputs: list[dict]) -> dict[str, Any]:
    """{short input name: CWL value} of a process's inputs from the run's params."""
    if INPUTS_PARAM in context.definition.params and INPUTS_PARAM in context.values:
        return json.loads(context.values[INPUTS_PARAM])  # a child given its object whole
    out = {}
    for inp in inputs:
        name = local(inp["id"]).rsplit("/", 1)[-1]
        if name in context.definition.params and name in context.values:  # else null
            ptype = context.definition.params[name].type
            default = inp.get("default")
            if name not in context.file_names and isinstance(default, dict) and \
                    default.get("location") == SCHEME + str(context.values[name]):
                out[name] = copy.deepcopy(default)  # the document's own, with its basename
                continue
            out[name] = cwl_value(context.store, inp["type"], ptype, context.values[name],
                                  context.file_names.get(name, name))
    return out


def upstream_output(context: KindContext, task: str, names: tuple[str, ...] = (),
                    var: str = OUTPUT_VAR) -> dict:
    """The CWL output object of step `task` as this step sees it: its own, the paired
    instance's, or for a scattered step each port an array of its instances' values."""
    if task in context.skipped:  # its `when` was false: every output is null
        return {}
    if task in context.instances:  # an instance skipped by its `when`: every port null
        objects = [{} if produced is None else output_of(task, produced, var)
                   for produced in context.instances[task]]
        ports = {port for obj in objects for port in obj} | set(names)
        flat = {port: [obj.get(port) for obj in objects] for port in ports}
        shape = context.results.get(cross_task(task))  # a nested_crossproduct's
        if shape is None:
            return flat
        lengths = json.loads(shape.vars[OUTPUT_VAR])["shape"]["lengths"]
        return {port: nested(flat.get(port, []), lengths) for port in ports | set(names)}
    return output_of(task, context.results.get(task), var)


def output_of(task: str, produced: Produced | None, var: str = OUTPUT_VAR) -> dict:
    raw = None if produced is None else produced.vars.get(var)
    if raw is None:
        what = "subworkflow step" if var == SUB_OUTPUT_VAR else "step"
        raise CwlStepFailed(f"{what} {task!r} left no CWL output object")
    return json.loads(raw)


def scattered(context: KindContext, workflow: Any, step: Any, inputobj: dict) -> dict:
    """`inputobj` with each scattered input replaced by its item's element (a `dir`
    param's item by its entry, a list's or another step's array by position; an input
    taken from a paired instance already is the element)."""
    scatter = step.tool.get("scatter")
    if not scatter or context.item is None:
        return inputobj
    scatter = [scatter] if isinstance(scatter, str) else list(scatter)
    if step.tool.get("scatterMethod") in ("flat_crossproduct", "nested_crossproduct") \
            and len(scatter) > 1:
        position = int(context.item.key)
        for sid in reversed(scatter):  # row-major: the first input outermost
            values = inputobj[sid]
            if not values:
                raise CwlStepFailed(f"scatter: {local(sid)} has no items")
            position, index = divmod(position, len(values))
            inputobj[sid] = values[index]
        return inputobj
    inputs = {i["id"]: i for i in step.tool["inputs"]}
    index = None
    for sid in scatter:
        source = inputs[sid].get("source")
        source = source[0] if isinstance(source, list) else source
        parts = local(source).split("/")
        if len(parts) == 3 and parts[1] not in context.instances and \
                context.definition.tasks[parts[1]].for_each is not None:
            continue  # paired: the instance's own output
        values = inputobj[sid]
        if index is None:
            index = item_index(context.item, values)
        if index >= len(values):
            raise CwlStepFailed(f"scatter: {local(sid)} has {len(values)} items, not {index + 1}")
        inputobj[sid] = values[index]
    return inputobj


def item_index(item, values: list) -> int:
    if item.entry is None:
        return int(item.key)
    location = SCHEME + item.entry.oid
    for i, value in enumerate(values):
        if isinstance(value, dict) and value.get("location") == location \
                and value.get("basename") == item.key:
            return i
    raise CwlStepFailed(f"scatter: no File {item.key!r} among the items")


def source_state(context: KindContext, workflow: Any) -> dict:
    """cwltool's workflow state as this task sees it: the workflow's inputs from the
    params, the outputs of the steps it reads (None for the others)."""
    from cwltool.utils import WorkflowStateItem

    state: dict[str, WorkflowStateItem | None] = {}
    given = param_values(context, workflow.tool["inputs"])
    for inp in workflow.tool["inputs"]:
        name = local(inp["id"]).rsplit("/", 1)[-1]
        state[inp["id"]] = WorkflowStateItem(inp, given.get(name, inp.get("default")), "success")
    for other in workflow.steps:
        task = local(other.id).rsplit("/", 1)[-1]
        if task not in context.task.cwl["reads"]:
            for out in other.tool["outputs"]:
                state[out["id"]] = None
            continue
        names = tuple(local(o["id"]).rsplit("/", 1)[-1] for o in other.tool["outputs"])
        if other.embedded_tool.tool.get("class") == "Workflow":
            produced = sub_output(context, task, names)
        else:
            produced = upstream_output(context, task, names)
        for out in other.tool["outputs"]:
            key = local(out["id"]).rsplit("/", 1)[-1]
            empty = [] if task in context.instances else None  # a scatter over no items
            state[out["id"]] = WorkflowStateItem(out, produced.get(key, empty), "success")
    return state


def step_job_order(context: KindContext, workflow: Any, step: Any) -> dict:
    """The job order of `step`'s tool: its sources (params and upstream outputs) merged by
    cwltool's step machinery, then its `valueFrom` expressions."""
    from cwl_utils import expression
    from cwltool.workflow_job import object_from_state

    state = source_state(context, workflow)
    multiple = bool(workflow.get_requirement("MultipleInputFeatureRequirement")[0])
    inputobj = object_from_state(state, step.tool["inputs"], False, multiple, "source")
    if inputobj is None:
        raise CwlStepFailed(f"the inputs of step {local(step.id)} are not all known")
    inputobj = scattered(context, workflow, step, inputobj)
    value_from = {i["id"]: i["valueFrom"] for i in step.tool["inputs"] if "valueFrom" in i}
    if value_from:
        shortio = {local(k).rsplit("/", 1)[-1]: v for k, v in inputobj.items()}
        for key, text in value_from.items():
            inputobj[key] = expression.do_eval(text, shortio, workflow.requirements, None,
                                               None, {}, context=inputobj.get(key),
                                               timeout=EVAL_TIMEOUT)
    return {local(k).rsplit("/", 1)[-1]: v for k, v in inputobj.items()}


EVAL_TIMEOUT = 60.0  # seconds a JavaScript expression may take


# ---- files in and out ---------------------------------------------------------------
class Files:
    """The store's Files and Directories of one attempt, checked out under `root`
    (`<root>/<hash>/<basename>`), and the way back from a path to its hash."""

    def __init__(self, store, root: str):
        self.store = store
        self.root = root
        self.paths: dict[str, str] = {}  # checked-out path → hash

    def materialize(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.materialize(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {k: self.materialize(v) for k, v in value.items()}
        location = out.get("location")
        if out.get("class") in ("File", "Directory") and isinstance(location, str) \
                and location.startswith(SCHEME):
            oid = location[len(SCHEME):]
            basename = out.get("basename") or oid
            path = os.path.join(self.root, oid, basename)
            if not os.path.exists(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
                if out["class"] == "File":
                    self.stand_in(oid, path)
                else:
                    os.makedirs(path)
                    for rel, entry in walk_tree(self.store, oid):
                        if entry.kind == DIR:
                            os.makedirs(os.path.join(path, rel))
                        else:
                            self.stand_in(entry.oid, os.path.join(path, rel), entry.size)
            self.paths[path] = oid
            out["location"] = "file://" + path
            out.pop("path", None)
            out.pop("listing", None)
        return out

    def stand_in(self, oid: str, path: str, size: int | None = None) -> None:
        """What cwltool sees of a stored file: its first STAND_IN_BYTES (all cwltool
        reads of an input: `loadContents`), the rest a hole, so its size is the file's.
        The job gets the file itself: the staged tree names it by hash."""
        size = self.store.size_of(oid) if size is None else size
        with open(path, "wb") as f:
            kept = 0
            for chunk in self.store.iter_blob(oid):
                f.write(chunk[:STAND_IN_BYTES - kept])
                kept += min(len(chunk), STAND_IN_BYTES - kept)
                if kept >= STAND_IN_BYTES:
                    break
            f.truncate(size)

    def lookup(self, path: str) -> tuple[str, str, int, bool] | None:
        """(kind, hash, size, executable) of a checked-out input at `path` or inside one,
        else None."""
        for base, oid in self.paths.items():
            if path.rstrip("/") == base:
                kind = FILE if self.store.type_of(oid) == "blob" else DIR
                size = self.store.size_of(oid) if kind == FILE else read_tree(
                    self.store, oid).size
                return kind, oid, size, False
            if path.startswith(base + "/"):
                try:
                    entry = entry_at(self.store, oid, path[len(base) + 1:].rstrip("/"))
                except PathNotInTree:
                    return None
                return entry.kind, entry.oid, entry.size, entry.executable
        return None

    def stored(self, path: str, kind: str, outdir: str, out_tree: str | None) -> str:
        """The hash of the file or folder at `path`: inside the attempt's output tree,
        a checked-out input (or inside one), else stored now."""
        if path in self.paths:
            return self.paths[path]
        if out_tree is not None and path.startswith(outdir.rstrip("/") + "/"):
            try:
                return entry_at(self.store, out_tree, path[len(outdir.rstrip("/")) + 1:]).oid
            except PathNotInTree:
                pass
        for base, oid in self.paths.items():
            if path.startswith(base + "/"):
                try:
                    return entry_at(self.store, oid, path[len(base) + 1:]).oid
                except PathNotInTree:
                    break
        if kind == DIR:
            return put_directory(self.store, path).oid
        with open(path, "rb") as f:
            return self.store.put_stream(f)[0]

    def output_object(self, value: Any, outdir: str, out_tree: str | None) -> Any:
        """`value` with every File and Directory named by hash (`wfobj:HASH`)."""
        if isinstance(value, list):
            return [self.output_object(v, outdir, out_tree) for v in value]
        if not isinstance(value, dict):
            return value
        if value.get("class") not in ("File", "Directory"):
            return {k: self.output_object(v, outdir, out_tree) for k, v in value.items()}
        location = str(value.get("location") or value.get("path") or "")
        path = location[len("file://"):] if location.startswith("file://") else location
        out = {k: value[k] for k in KEPT_KEYS if k in value}
        if "secondaryFiles" in out:
            out["secondaryFiles"] = self.output_object(out["secondaryFiles"], outdir, out_tree)
        kind = DIR if value["class"] == "Directory" else FILE
        if path and os.path.exists(path):
            out["location"] = SCHEME + self.stored(path, kind, outdir, out_tree)
        elif location.startswith(SCHEME):
            out["location"] = location
        elif kind == FILE and "contents" in value:  # a literal: stored as a blob
            out["location"] = SCHEME + self.store.put_blob(str(value["contents"]).encode())
        else:
            raise CwlStepFailed(f"output {location or value.get('basename')!r} does not exist")
        out.setdefault("basename", os.path.basename(path.rstrip("/")))
        return out


# ---- cwltool's job, not run by cwltool ------------------------------------------------
def stable_path_mapper():
    """cwltool's PathMapper with staging folders numbered in order instead of random
    (`stg0`, `stg1`…), so the same inputs give the same staging tree (and cache key)."""
    from cwltool.pathmapper import PathMapper

    class StablePathMapper(PathMapper):
        def setup(self, referenced_files, basedir):
            stagedir = self.stagedir
            for n, fob in enumerate(referenced_files):
                if self.separateDirs:
                    stagedir = os.path.join(self.stagedir, f"stg{n}")
                self.visit(fob, stagedir, basedir, copy=bool(fob.get("writable", False)),
                           staged=True)

    return StablePathMapper


def prepared_job_class():
    from cwltool.job import JobBase

    class PreparedJob(JobBase):
        """A job cwltool builds and wfobj runs (never run by cwltool)."""

        def run(self, runtimeContext, tmpdir_lock=None):  # noqa: ARG002
            raise RuntimeError("a wfobj CWL job is run by the engine")

        def _required_env(self) -> dict[str, str]:
            return {"HOME": self.builder.outdir, "TMPDIR": CWL_TMP_DIR}

    return PreparedJob


def runtime_context(workdir: str, image: str):
    from cwltool.context import RuntimeContext

    for folder in ("tmp", "outs"):
        os.makedirs(os.path.join(workdir, folder), exist_ok=True)
    rc = RuntimeContext({"use_container": True, "default_container": image,
                         "docker_outdir": CWL_OUT_DIR, "docker_stagedir": CWL_STAGE_DIR,
                         "docker_tmpdir": CWL_TMP_DIR, "outdir": os.path.join(workdir, "out"),
                         "basedir": workdir, "eval_timeout": EVAL_TIMEOUT,
                         "tmpdir_prefix": os.path.join(workdir, "tmp") + "/",
                         "tmp_outdir_prefix": os.path.join(workdir, "outs") + "/",
                         "stagedir": os.path.join(workdir, "stage"), "compute_checksum": True})
    rc.path_mapper = stable_path_mapper()
    return rc


def make_job(tool: Any, job_order: dict, rc: Any, outputs: dict) -> Any:
    """cwltool's job of `tool` on `job_order` (a private copy of the tool makes it, so the
    document's cached objects are never changed)."""
    from cwltool.command_line_tool import CommandLineTool

    mine = copy.copy(tool)
    mine.requirements, mine.hints = list(tool.requirements), list(tool.hints)
    job_class = prepared_job_class()
    if isinstance(tool, CommandLineTool):
        mine.make_job_runner = lambda _rc: job_class

    def done(out, status):
        outputs.update(out=out, status=status)

    return next(iter(mine.job(job_order, done, rc)))


def when_value(workflow: Any, step: Any, inputs: dict) -> bool:
    """A step's `when` on its input object (after `valueFrom`), in cwltool's sandboxed
    nodejs: True or False, else CwlStepFailed saying what it gave."""
    from cwl_utils import expression

    when = step.tool["when"]
    try:
        value = expression.do_eval(when, inputs, workflow.requirements, None, None, {},
                                   timeout=EVAL_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - cwltool raises many kinds
        raise CwlStepFailed(f"CWL when {when!r}: {one_line(exc)}") from None
    if value is True or value is False:
        return value
    raise CwlStepFailed(f"CWL when {when!r} gave {json.dumps(value)[:100]}, not true or false")


class CwlSteps:
    """The `cwl` task kind."""

    def gate(self, context: KindContext) -> Verdict | None:
        """A step's `when`, evaluated on its input object (after `valueFrom`) with
        cwltool's expression machinery in nodejs: false skips the step (a condition
        skip), anything but true or false fails it. A scattered step's `when` is each
        instance's, judged on that instance's inputs as it is about to start: false skips
        the instance the same way (its outputs null in the arrays its readers get)."""
        if "step" not in context.task.cwl:
            return None
        try:
            _, process, step = locate(context)
        except Exception as exc:  # noqa: BLE001 - cwltool raises many kinds
            return Verdict(problem=f"CWL step: {one_line(exc)}")
        when = None if step is None else step.tool.get("when")
        if when is None or ("scatter" in step.tool) != (context.item is not None):
            return None  # a scattered step's `when` is its instances', not its own
        try:
            value = when_value(process, step, step_job_order(context, process, step))
        except CwlStepFailed as exc:
            return Verdict(problem=str(exc))
        except Exception as exc:  # noqa: BLE001 - cwltool raises many kinds
            return Verdict(problem=f"CWL when {step.tool['when']!r}: {one_line(exc)}")
        return None if value else Verdict(SKIP_CONDITION, f"skipped: CWL when false: {when}")

    def render(self, context: KindContext, spec: TaskSpec) -> Prepared:
        workdir = tempfile.mkdtemp(prefix="wfobj-cwl-attempt-")
        try:
            return self.prepare(context, spec, workdir)
        except Exception as exc:  # noqa: BLE001 - cwltool raises many kinds
            shutil.rmtree(workdir, ignore_errors=True)
            return Prepared(spec, problem=f"CWL step: {one_line(exc)}")

    def prepare(self, context: KindContext, spec: TaskSpec, workdir: str) -> Prepared:
        from cwltool.errors import UnsupportedRequirement

        store = context.store
        close = functools.partial(shutil.rmtree, workdir, ignore_errors=True)

        def in_engine(value: Callable[[], Any], **changes: Any) -> Prepared:
            """An attempt evaluated in the engine: `value()` is its CWL output object."""
            return Prepared(replace(spec, inputs=[], **changes), close=close,
                            in_engine=lambda: self.evaluated(store, context.clock, value))

        process, workflow, step = locate(context)
        if step is None and context.task.cwl.get("step") == OUTPUTS_STEP:
            return in_engine(lambda: workflow_outputs(context, workflow))
        if step is None and context.task.cwl.get("step") == PARAMS_STEP:  # `cwl-params`
            return in_engine(lambda: param_values(context, workflow.tool["inputs"]))
        if step is not None and context.task.cwl["step"].startswith(CROSS_STEP):
            return in_engine(lambda: cross_positions(context, workflow, step))
        if step is not None and context.task.cwl["step"].startswith(INPUTS_STEP):
            return in_engine(lambda: step_job_order(context, workflow, step))
        if step is not None:
            tool, job_order = step.embedded_tool, step_job_order(context, workflow, step)
        else:
            tool, job_order = process, param_values(context, process.tool["inputs"])
        files = Files(store, os.path.join(workdir, "in"))
        job_order = files.materialize(job_order)
        rc = runtime_context(workdir, context.task.image)
        outputs: dict = {}
        job = make_job(tool, job_order, rc, outputs)
        if tool.tool.get("class") == "ExpressionTool":
            return Prepared(replace(spec, image=context.task.image, inputs=[]),
                            in_engine=lambda: self.evaluate(context, job, rc, outputs, files),
                            close=close)
        inplace, _ = job.get_requirement("InplaceUpdateRequirement")
        if inplace is not None and inplace.get("inplaceUpdate"):
            raise UnsupportedRequirement("InplaceUpdateRequirement: inputs are "
                                         "content-addressed trees, never updated in place")
        # cwltool leaves a tool without DockerRequirement its container paths: the host
        # folders are always this attempt's own
        job.outdir, job.tmpdir = os.path.join(workdir, "out"), os.path.join(workdir, "tmp")
        job._setup(rc)
        stage = self.stage(store, job, os.path.join(workdir, "staging"), files)
        resources = resources_of(job)
        spec = replace(
            spec, image=image_of(job, context.task.image),
            command=["sh", f"{CWL_STAGE_DIR}/{CWL_SCRIPT}"],
            env={**spec.env, "HOME": job.builder.outdir, "TMPDIR": CWL_TMP_DIR},
            inputs=[InputFile("stage", stage.oid, stage.size, DIR)],
            network=bool(job.networkaccess) or spec.network,
            timeout=float(job.timelimit) if job.timelimit else spec.timeout,
            cpus=resources.get("cpus", spec.cpus), memory=resources.get("memory", spec.memory),
            output_files=[CWL_OUT_NAME], output_vars=["rc"])
        return Prepared(spec, finish=lambda result: self.collect(store, job, result, files),
                        close=close)

    @staticmethod
    def stage(store, job: Any, root: str, files: Files):
        """The staging tree: the script and literal files read from `root`, every input
        from the store placed by its hash (time and bytes O(entries), not O(input bytes))."""
        plan = StagingPlan(root, stored=files.lookup)
        os.makedirs(root)
        for mapper in (job.pathmapper, job.generatemapper):
            if mapper is not None:
                for _key, vol in mapper.items():
                    if vol.staged:
                        plan.add(vol)
        script = os.path.join(root, CWL_SCRIPT)
        os.makedirs(os.path.dirname(script), exist_ok=True)
        with open(script, "w", encoding="utf-8") as f:
            f.write(job_script(job, plan.copies))
        builder = TreeBuilder(store)
        for item in scan_directory(root):
            if item.is_dir:
                builder.add_dir(item.path)
                continue
            with item.open() as f:
                builder.add_file(item.path, f, executable=item.executable)
        for path, (kind, oid, size, executable) in plan.grafts:
            builder.add_stored(path, kind, oid, size, executable=executable)
        return builder.finish()

    def collect(self, store, job: Any, result: AttemptResult, files: Files) -> AttemptResult:
        """The finish hook: the output tree checked out, cwltool's collection, the exit
        code judged, the output object stored as the var `cwl`."""
        if result.state != AttemptStatus.SUCCESS:
            return result
        try:
            rc = int(result.vars["rc"])
            tree = next(o.oid for o in result.outputs if o.path == CWL_OUT_NAME)
            if os.path.isdir(job.outdir) and not os.listdir(job.outdir):
                os.rmdir(job.outdir)
            checkout_tree(store, tree, job.outdir)
            if not self.succeeded(job, rc):
                return replace(result, state=AttemptStatus.FAILED, exit_code=rc,
                               error=f"the tool exited {rc} (not one of its successCodes)")
            collected = job.collect_outputs(job.outdir, rc)
            value = files.output_object(collected, job.outdir, tree)
        except Exception as exc:  # noqa: BLE001 - cwltool's collection raises many kinds
            return replace(result, state=AttemptStatus.FAILED,
                           error=f"CWL output collection: {one_line(exc)}")
        return replace(result, exit_code=rc, vars={**result.vars, **output_vars(value)})

    @staticmethod
    def succeeded(job: Any, rc: int) -> bool:
        if rc in job.successCodes:
            return True
        if rc in job.temporaryFailCodes or rc in job.permanentFailCodes:
            return False
        return rc == 0

    def evaluate(self, context: KindContext, job: Any, rc: Any, outputs: dict,
                 files: Files) -> AttemptResult:
        """An ExpressionTool, in the engine: its output object, or why it failed."""
        def value() -> dict:
            job.run(rc)
            if outputs.get("status") != "success":
                raise CwlStepFailed("the expression failed")
            return files.output_object(outputs.get("out") or {}, "/nonexistent", None)

        return self.evaluated(context.store, context.clock, value)

    def evaluated(self, store, clock: Clock, value: Callable[[], dict]) -> AttemptResult:
        """An attempt in the engine (no container) whose result is the output object
        `value()` gives, or a failure saying why it gave none."""
        started = clock.now()
        empty = StoredText(store.put_blob(b""), 0, "")
        try:
            made = value()
        except Exception as exc:  # noqa: BLE001 - cwltool raises many kinds
            return AttemptResult(state=AttemptStatus.FAILED, exit_code=None, stdout=empty,
                                 stderr=empty, started_at=started,
                                 ended_at=clock.now(),
                                 error=f"CWL expression: {one_line(exc)}",
                                 executor={"kind": "engine"})
        return AttemptResult(state=AttemptStatus.SUCCESS, exit_code=0, stdout=empty,
                             stderr=empty, started_at=started, ended_at=clock.now(),
                             vars=output_vars(made), executor={"kind": "engine"})


def cross_positions(context: KindContext, workflow: Any, step: Any) -> dict:
    """What a scatter counted in the engine fans out over: {"positions": [0…n-1]}, n the
    product of the lengths of the step's scattered arrays (their sources merged, before
    valueFrom) for a crossproduct, their one common length for a dotproduct."""
    from cwltool.workflow_job import object_from_state

    state = source_state(context, workflow)
    multiple = bool(workflow.get_requirement("MultipleInputFeatureRequirement")[0])
    inputobj = object_from_state(state, step.tool["inputs"], False, multiple, "source")
    if inputobj is None:
        raise CwlStepFailed(f"the inputs of step {local(step.id)} are not all known")
    scatter = step.tool["scatter"]
    scatter = [scatter] if isinstance(scatter, str) else list(scatter)
    count, lengths = 1, []
    for sid in scatter:
        if not isinstance(inputobj.get(sid), list):
            null = " (it is null: an optional input left out?)" if inputobj.get(sid) is None \
                else ""
            raise CwlStepFailed(f"scatter: {local(sid)} is not an array{null}")
        count *= len(inputobj[sid])
        lengths.append(len(inputobj[sid]))
    if step.tool.get("scatterMethod", "dotproduct") == "dotproduct":
        if len(set(lengths)) > 1:
            raise CwlStepFailed("scatter: dotproduct over arrays of different lengths "
                                f"({', '.join(map(str, lengths))})")
        count, lengths = lengths[0], lengths[:1]
    return {"positions": list(range(count)), "shape": {"lengths": lengths}}


def nested(flat: list, lengths: list[int]) -> list:
    """A row-major flat array as the nested arrays of a nested_crossproduct."""
    if len(lengths) <= 1:
        return flat
    size = len(flat) // lengths[0] if lengths[0] else 0
    return [nested(flat[i * size:(i + 1) * size], lengths[1:]) for i in range(lengths[0])]


def output_vars(value: dict) -> dict[str, str]:
    """The vars a CWL step leaves: `cwl`, its output object, and for each output port
    holding an array `cwl_items_PORT`, the array's positions (what a scatter over it fans
    out on)."""
    out = {OUTPUT_VAR: json.dumps(value, sort_keys=True)}
    for port, item in value.items():
        if isinstance(item, list):
            out[ITEMS_VAR + port] = json.dumps(list(range(len(item))))
    return out


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:600] or type(exc).__name__


CWL_STEPS = CwlSteps()

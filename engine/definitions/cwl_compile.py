"""CWL documents registered as workflows (docs/cwl.md "Registering a CWL document").

A mapping with a `cwlVersion` key given to `workflow apply` / `PUT /api/workflows/{name}`
is a CWL v1.2 document. cwltool loads and validates it (schema-salad) and packs it into
one self-contained JSON document; that document is stored as a blob, and the compiler
turns it into a native definition that pins it by hash:

- each CWL input of the process becomes a param (`PARAM_TYPES` below; defaults kept);
- a Workflow's steps become tasks, a lone CommandLineTool or ExpressionTool the one task
  `tool`; each is a CWL task (`cwl: {document, step, reads}`, the task kind of
  engine/scheduling/cwl_steps.py) whose static requirements fill the native keys:
  DockerRequirement → `image`, ResourceRequirement → `resources`, ToolTimeLimit →
  `timeout`, NetworkAccess → `network`;
- `reads` lists the steps whose outputs a step's inputs take (its edges in the graph).

What cannot be mapped is refused at registration with a DefinitionError naming the place.
Nothing is fetched: a document given over the API must be self-contained (no `$import`,
`$include`, `$mixin`, `$schemas`, no `run:` naming another file); `wfobj workflow apply
FLOW.cwl` packs a document and the files it names on the client first (`pack_cwl_file`).

Costs: loading a document with cwltool takes about a second (its schemas, once per
process) plus time linear in the document; a loaded document is kept per hash
(`loaded_process`, a small LRU) so attempts do not load it again.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from graphlib import TopologicalSorter
from typing import Any

from wfobj.engine.errors import DefinitionError, excerpt, one_line

from .format import NAME_RE

CWL_COMMAND = ("sh", "/in/stage/.wfobj/run.sh")  # engine/scheduling/cwl_staging.py's script
CWL_OUT = "o"  # its output directory, /out/o
ENGINE_IMAGE = "(engine)"  # an ExpressionTool's task: evaluated in the engine, no container
TOOL_TASK = "tool"  # the task of a lone CommandLineTool or ExpressionTool
DEFAULT_IMAGE = "wfobj/toolbox:local"  # tools without a DockerRequirement
FETCHING_KEYS = ("$import", "$include", "$mixin", "$schemas")
SCALARS = {"string": "string", "int": "int", "long": "int", "float": "float",
           "double": "float", "boolean": "bool"}
SUPPORTED_CLASSES = ("CommandLineTool", "ExpressionTool", "Workflow")
STORE_SCHEME = "wfobj:"  # a File's or Directory's location in the store: wfobj:HASH
_LOADED: OrderedDict[str, Any] = OrderedDict()
_LOCK = threading.Lock()
MAX_LOADED = 16


def is_cwl(raw: Any) -> bool:
    """Whether a parsed definition body is a CWL document (it has `cwlVersion`)."""
    return isinstance(raw, dict) and "cwlVersion" in raw


def canonical(document: dict) -> bytes:
    """The bytes a packed document is stored as (sorted keys, no spaces: one hash)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


# ---- loading and packing ------------------------------------------------------------
def check_self_contained(value: Any, place: str = "") -> None:
    """Refuse what would make cwltool fetch a file or URL on the server."""
    stack = [(value, place)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            for key in FETCHING_KEYS:
                if key in item:
                    raise DefinitionError(where or key, f"{key} is not accepted: the document "
                                          "must be self-contained (pack it, or use `wfobj "
                                          "workflow apply FILE.cwl`, which packs it)")
            run = item.get("run")
            if isinstance(run, str) and not run.startswith("#"):
                raise DefinitionError(f"{where}.run" if where else "run",
                                      f"{excerpt(run)} names another file: the document must "
                                      "be self-contained (pack it, or use `wfobj workflow "
                                      "apply FILE.cwl`)")
            stack.extend((v, f"{where}.{k}" if where else str(k)) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))


TEMP_PATH_RE = re.compile(r"(file://)?[^\s']*wfobj-cwl-(doc-[^/\s]+/document|documents/[0-9a-f]+)"
                          r"\.cwl")


def _cwl_error(exc: Exception) -> DefinitionError:
    text = TEMP_PATH_RE.sub("document", one_line(str(exc)))
    return DefinitionError("cwl", f"not a valid CWL v1.2 document: {text[:600]}")


@contextmanager
def quiet_loaders() -> Iterator[None]:
    """cwltool's and schema-salad's loggers kept to errors while a document is loaded here
    (they would tell every file resolved on standard error; refusals are raised instead)."""
    loggers = [logging.getLogger(name) for name in ("cwltool", "salad")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def pack_path(path: str) -> dict:
    """The packed form (`$graph` with `#main`) of the CWL document at `path` and every file
    it names (cwltool's loader and packer)."""
    from cwltool.context import LoadingContext
    from cwltool.load_tool import fetch_document, resolve_and_validate_document
    from cwltool.pack import pack

    try:
        with quiet_loaders():
            loading = LoadingContext({"relax_path_checks": True, "do_update": True})
            loading, workflowobj, uri = fetch_document(os.path.abspath(path), loading)
            loading, uri = resolve_and_validate_document(loading, workflowobj, uri)
            packed = pack(loading, uri)
    except DefinitionError:
        raise
    except Exception as exc:  # schema-salad and cwltool raise many kinds
        raise _cwl_error(exc) from None
    return json.loads(json.dumps(packed, default=str))


def pack_document(raw: dict) -> dict:
    """The packed form of a self-contained CWL document given as a mapping."""
    check_self_contained(raw)
    with tempfile.TemporaryDirectory(prefix="wfobj-cwl-doc-") as tmp:
        path = os.path.join(tmp, "document.cwl")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(raw, f)
        packed = pack_path(path)
    return relative_ids(packed)


def pack_cwl_file(path: str) -> bytes:
    """`workflow apply FILE.cwl` on the client: the document and the files it names,
    packed into one JSON document (the body registration takes)."""
    return canonical(relative_ids(pack_path(path)))


def relative_ids(packed: dict) -> dict:
    """Ids and references of a packed document without the file name cwltool put in
    front of them (`file:///tmp/x/document.cwl#main/s` → `#main/s`), so a document packed
    on another machine or from another file name stores the same bytes."""
    text = json.dumps(packed)
    text = re.sub(r'"file://[^"#]*#', '"#', text)
    return json.loads(text)


def loaded_process(document: bytes, oid: str) -> Any:
    """cwltool's process object (`#main`) of the packed document stored as `oid`, loaded
    once per process and kept in a small LRU."""
    with _LOCK:
        if oid in _LOADED:
            _LOADED.move_to_end(oid)
            return _LOADED[oid]
    from cwltool.context import LoadingContext
    from cwltool.load_tool import load_tool
    from cwltool.workflow import default_make_tool

    folder = os.path.join(tempfile.gettempdir(), "wfobj-cwl-documents")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{oid}.cwl")
    if not os.path.exists(path):
        partial = f"{path}.{os.getpid()}.{threading.get_ident()}"
        with open(partial, "wb") as f:
            f.write(document)
        os.replace(partial, path)
    try:
        with quiet_loaders():
            loading = LoadingContext({"relax_path_checks": True})
            loading.construct_tool_object = default_make_tool
            process = load_tool(f"file://{path}#main", loading)
    except Exception as exc:  # noqa: BLE001 - schema-salad and cwltool raise many kinds
        raise _cwl_error(exc) from None
    with _LOCK:
        _LOADED[oid] = process
        while len(_LOADED) > MAX_LOADED:
            _LOADED.popitem(last=False)
    return process


# ---- the compiler -------------------------------------------------------------------
def short(ident: str) -> str:
    """The last part of a CWL id (`#main/step/out` → `out`)."""
    return ident.rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def local(ident: str) -> str:
    """A CWL id without its document (`file:///x.cwl#main/s/o` → `main/s/o`)."""
    return ident.rsplit("#", 1)[-1]


def checked_name(ident: str, what: str) -> str:
    name = short(ident)
    if not NAME_RE.match(name):
        raise DefinitionError(what, f"{excerpt(name)}: wfobj names are letters, digits, _ "
                              "and - (starting with a letter or _), up to 100 characters")
    return name


def requirement(process: Any, cls: str) -> dict | None:
    req, _ = process.get_requirement(cls)
    return req


def compile_cwl(process: Any, document_oid: str, description: str = "",
                children: list[tuple[str, dict]] | None = None,
                within: str | None = None) -> dict:
    """The native definition (a raw mapping, normalized by format.normalize) of a loaded
    CWL process whose packed document is stored as `document_oid`. A subworkflow step's
    workflow is compiled too, into `children` (name, definition; deepest first), `within`
    naming the step whose `run` it is."""
    children = [] if children is None else children
    cls = process.tool.get("class")
    if cls not in SUPPORTED_CLASSES:
        raise DefinitionError("class", f"{excerpt(cls)} is not a CWL process class wfobj runs "
                              f"({', '.join(SUPPORTED_CLASSES)})")
    params = {checked_name(inp["id"], f"inputs.{short(inp['id'])}"): param_of(inp)
              for inp in process.tool["inputs"]}
    if cls == "Workflow":
        tasks = {checked_name(step.id, f"steps.{short(step.id)}"):
                 step_task(step, process, document_oid, within, children, params)
                 for step in process.steps}
        by_name = {short(step.id): step for step in process.steps}
        order = TopologicalSorter({n: step_reads(t) for n, t in tasks.items()})
        json_arrays = frozenset(short(i["id"]) for i in process.tool["inputs"]
                                if json_array(i["type"]))
        for name in order.static_order():  # a scatter may pair with an upstream's
            if "scatter" in by_name[name].tool:
                scatter_onto_fanout(by_name[name], tasks, params, prefix_of(process),
                                    json_arrays)
        for name in [n for n, t in tasks.items() if "_inputs_task" in t]:
            extra, task = tasks[name].pop("_inputs_task")
            if extra in tasks:
                raise DefinitionError(f"steps.{extra}", "this step name is the task wfobj "
                                      f"gives step {name}'s input object: rename the step")
            if "for_each" in tasks[name]:  # a scattered subworkflow step: one object per item
                task["for_each"] = dict(tasks[name]["for_each"])
            tasks[extra] = task
        tasks[OUTPUTS_TASK] = outputs_task(process, document_oid, within, set(tasks))
        nested = {short(st.id) for st in process.steps
                  if st.tool.get("scatterMethod") == "nested_crossproduct"}
        for task in tasks.values():  # a nested product's readers read its shape too
            reads = task.get("cwl", {}).get("reads", [])
            shapes = {cross_task(n) for n in reads if n in nested}
            if shapes:
                task["cwl"]["reads"] = sorted({*reads, *shapes})
    else:
        tasks = {TOOL_TASK: tool_task(process, {"document": document_oid, "reads": []})}
    doc = process.tool.get("doc") or process.tool.get("label") or ""
    text = description or (doc if isinstance(doc, str) else " ".join(doc))
    source = {"language": "cwl", "document": document_oid,
              "process": "#main" if within is None else f"#{within}/run"}
    from cwltool.process import ORIGINAL_CWLVERSION

    version = process.metadata.get(ORIGINAL_CWLVERSION) or process.metadata.get("cwlVersion")
    if isinstance(version, str):
        source["version"] = version
    return {"description": f"CWL {cls}" + (f": {text}" if text else "")[:900],
            "params": params, "tasks": tasks, "source": source}


def step_reads(task: dict) -> list[str]:
    """The tasks a compiled step reads: a CWL task's `reads`, or for a subworkflow step
    taking its input object whole, the reads of the task building that object."""
    if "cwl" in task:
        return task["cwl"].get("reads", [])
    if "_inputs_task" in task:
        return task["_inputs_task"][1]["cwl"]["reads"]
    return []


def prefix_of(workflow: Any) -> str:
    """What the ids of a workflow's steps, inputs and outputs start with (`main`, or
    `main/step/run` for a subworkflow written inline)."""
    if workflow.steps:
        return local(workflow.steps[0].id).rsplit("/", 1)[0]
    return local(workflow.tool["id"])


def relative(ident: str, prefix: str) -> list[str]:
    """An id of a workflow relative to it: [INPUT] or [STEP, PORT]."""
    text = local(ident)
    return (text[len(prefix) + 1:] if text.startswith(prefix + "/") else text).split("/")


def param_of(inp: dict) -> dict:
    """A CWL input as a param: File → file, Directory → dir, File[] → dir (its files in
    name order), string/int/float/boolean[] → list, a scalar → string/int/float/bool, an
    enum → string with its symbols; the default kept (File and Directory defaults need a
    hash); an optional input without a default an `optional` param (absent: null)."""
    place = f"inputs.{short(inp['id'])}"
    ptype = inp["type"]
    optional = isinstance(ptype, list) and "null" in ptype
    if holds_json(ptype):
        return json_param(inp, ptype, optional, place)
    if isinstance(ptype, list):
        rest = [t for t in ptype if t != "null"]
        if len(rest) != 1:
            raise DefinitionError(place, "a union of types holding a File or Directory has "
                                  "no param type in wfobj")
        ptype = rest[0]
    out: dict[str, Any] = {"type": native_type(ptype, place)}
    if isinstance(ptype, dict) and ptype.get("type") == "enum":
        out["enum"] = [short(s) for s in ptype["symbols"]]
    if "default" in inp and inp["default"] is not None:
        if out["type"] in ("file", "dir"):
            out.update(stored_default(ptype, inp["default"], f"{place}.default"))
        else:
            out["default"] = inp["default"]
    elif optional:  # may be left out at trigger: the tool sees null
        out["optional"] = True
    return out


def holds_json(cwl_type: Any) -> bool:
    """Whether a CWL input of this type is a `string` param holding its value as JSON
    text: a type with no native param type (a record, a union of several types, a nested
    array, an array of records or enums) that holds no File or Directory."""
    rest = [t for t in cwl_type if t != "null"] if isinstance(cwl_type, list) else [cwl_type]
    if len(rest) == 1:
        try:
            native_type(rest[0], "")
            return False
        except DefinitionError:
            pass
    text = json.dumps(cwl_type, default=str)
    return not re.search(r'"(File|Directory)"', text)


def json_array(cwl_type: Any) -> bool:
    """Whether an input of this CWL type is an array held as JSON text (of records, of
    arrays, of enums)."""
    rest = [t for t in cwl_type if t != "null"] if isinstance(cwl_type, list) else [cwl_type]
    return (len(rest) == 1 and isinstance(rest[0], dict) and rest[0].get("type") == "array"
            and holds_json(cwl_type))


def json_param(inp: dict, cwl_type: Any, optional: bool, place: str) -> dict:
    """A `string` param holding the input's CWL value as JSON text (cwltool checks the
    value against the type when a step's job is built); its default as that text."""
    out: dict[str, Any] = {"type": "string"}
    if inp.get("default") is not None:
        out["default"] = json.dumps(inp["default"], sort_keys=True)
    elif optional:
        out["optional"] = True
    return out


def native_type(ptype: Any, place: str) -> str:
    if isinstance(ptype, str):
        if ptype in SCALARS:
            return SCALARS[ptype]
        if ptype in ("File", "Directory"):
            return "file" if ptype == "File" else "dir"
    elif isinstance(ptype, dict):
        if ptype.get("type") == "enum":
            return "string"
        if ptype.get("type") == "array":
            items = ptype.get("items")
            if items == "File":
                return "dir"
            if isinstance(items, str) and items in SCALARS:
                return "list"
    raise DefinitionError(place, f"type {excerpt(json.dumps(ptype, default=str))} has no param "
                          "type in wfobj (File, Directory, File[], scalars, arrays of scalars "
                          "and enums do)")


def stored_default(cwl_type: Any, value: Any, place: str) -> dict:
    """The param keys of a File or Directory default: one in the store (`location:
    wfobj:HASH`) is the native default HASH (checked at trigger, kept by gc with the
    definition; the tool sees the document's object, so its `basename`); a literal
    (`contents`, or a Directory's `listing`, no location) makes the param optional, the
    document's literal standing in when it is left out. Anything else names a file the
    server cannot read (DefinitionError)."""
    if isinstance(cwl_type, dict) and cwl_type.get("type") == "array" and \
            cwl_type.get("items") == "File" and isinstance(value, list):
        return literal_files_default(value, place)
    cls = "File" if cwl_type == "File" else "Directory" if cwl_type == "Directory" else None
    if cls is None or not isinstance(value, dict) or value.get("class") != cls:
        raise DefinitionError(place, "only a File or Directory default is mapped (a "
                              "File[] default only of literal Files)")
    location = value.get("location")
    if isinstance(location, str) and location.startswith(STORE_SCHEME):
        oid = location[len(STORE_SCHEME):]
        if not re.fullmatch(r"[0-9a-f]{64}", oid):
            raise DefinitionError(f"{place}.location", f"{excerpt(location)} is not "
                                  f"{STORE_SCHEME}HASH (64 lower-case hex characters)")
        return {"default": oid}
    literal = "contents" if cls == "File" else "listing"
    if location is None and literal in value:
        return {"optional": True}
    raise DefinitionError(place, f"a {cls} default must be in the store (location: "
                          f"{STORE_SCHEME}HASH; `wfobj workflow apply FILE.cwl` uploads the "
                          f"files its defaults name) or a literal ({literal}), not "
                          f"{excerpt(location)}")


def literal_files_default(value: list, place: str) -> dict:
    """A `File[]` default of literal Files (each `contents`, no location): the param is
    optional, the document's literals standing in when it is left out. One naming a file
    (in the store or not) is refused: the definition would not pin it."""
    for i, item in enumerate(value):
        if not isinstance(item, dict) or item.get("class") != "File" or \
                "location" in item or "path" in item or "contents" not in item:
            raise DefinitionError(f"{place}[{i}]", "a File[] default is mapped only when "
                                  "each File is a literal (contents, no location)")
    return {"optional": True}


def static_number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def tool_task(tool: Any, cwl: dict) -> dict:
    """The native task of a step running `tool`: its static requirements as native keys
    (an expression is evaluated per attempt, and what the attempt got is its evidence)."""
    cls = tool.tool.get("class")
    if cls not in ("CommandLineTool", "ExpressionTool"):
        raise DefinitionError(f"class {cls}", "not a tool class")
    task: dict[str, Any] = {"image": DEFAULT_IMAGE, "command": list(CWL_COMMAND),
                            "outputs": {"files": [CWL_OUT], "vars": [OUTPUT_VAR, "rc"]},
                            "cwl": cwl}
    if cls == "ExpressionTool":  # evaluated in the engine: no container, no files
        task.update(image=ENGINE_IMAGE, command=["cwl-expression"],
                    outputs={"files": [], "vars": [OUTPUT_VAR]})
        return task
    docker = requirement(tool, "DockerRequirement")
    if docker and isinstance(docker.get("dockerPull") or docker.get("dockerImageId"), str):
        task["image"] = docker.get("dockerPull") or docker["dockerImageId"]
    resources = requirement(tool, "ResourceRequirement") or {}
    cores = static_number(resources.get("coresMin"))
    ram = static_number(resources.get("ramMin"))
    native = {}
    if cores:
        native["cpus"] = cores
    if ram:
        native["memory"] = f"{max(int(ram), 16)}m"
    if native:
        task["resources"] = native
    limit = static_number((requirement(tool, "ToolTimeLimit") or {}).get("timelimit"))
    if limit:
        task["timeout"] = int(limit) if limit.is_integer() else limit
    network = (requirement(tool, "NetworkAccess") or {}).get("networkAccess")
    if network is True:
        task["network"] = True
    return task


OUTPUT_VAR = "cwl"  # a CWL task's var: its CWL output object
OUTPUTS_TASK = "cwl-outputs"  # the task of a workflow's own output object
OUTPUTS_STEP = "#outputs"  # its `cwl.step`: not a step, the workflow's outputs
ITEMS_VAR = "cwl_items_"  # + an output port: the positions of its array, what a scatter fans out on


def scatter_onto_fanout(step: Any, tasks: dict[str, dict], params: dict[str, dict],
                        prefix: str, json_arrays: frozenset[str] = frozenset()) -> None:
    """A step's `scatter` as the native fan-out of its task: over a `list` or `dir` param
    (a workflow input), over the positions of another step's array output (its var
    `cwl_items_PORT`), or paired with a scattered step whose output it scatters over
    (the same collection: instance KEY reads instance KEY). `dotproduct` over several
    inputs takes the same position of each; the crossproducts: cross_onto_fanout. A
    scatter over an array held as JSON text (`json_arrays`: of records, of arrays) or
    over an optional input, over several sources merged, or over an unscattered subworkflow's output fans out over
    positions counted in the engine (positions_onto_fanout)."""
    name = short(step.id)
    place = f"steps.{name}.scatter"
    scatter = step.tool["scatter"]
    scatter = [scatter] if isinstance(scatter, str) else list(scatter)
    method = step.tool.get("scatterMethod", "dotproduct")
    if len(scatter) > 1 and method in ("flat_crossproduct", "nested_crossproduct"):
        cross_onto_fanout(step, tasks)
        return
    if len(scatter) > 1 and method != "dotproduct":
        raise DefinitionError(f"steps.{name}.scatterMethod", f"{excerpt(method)} is not a "
                              "scatterMethod")
    inputs = {i["id"]: i for i in step.tool["inputs"]}
    first = inputs[scatter[0]]
    sources = first.get("source") or []
    sources = [sources] if isinstance(sources, str) else list(sources)
    if len(sources) != 1:  # several sources merged (linkMerge): counted in the engine
        positions_onto_fanout(step, tasks, place)
        return
    parts = relative(sources[0], prefix)
    task = tasks[name]
    if len(parts) == 1:
        param = params.get(parts[0], {})
        if parts[0] not in json_arrays and param.get("type") not in ("list", "dir"):
            raise DefinitionError(place, f"input {parts[0]} is not an array wfobj can fan out "
                                  "over (an array of scalars, Files, records or arrays)")
        if parts[0] in json_arrays or param.get("optional"):
            # JSON text, or optional (left out: null, the count fails naming it): counted
            positions_onto_fanout(step, tasks, place)
            return
        task["for_each"] = {"param": parts[0]}
        return
    upstream, port = tasks[parts[0]], parts[1]
    if "for_each" in upstream:  # scattered itself: pair with it, item by item
        task["for_each"] = dict(upstream["for_each"])
        return
    if "cwl" not in upstream:  # an unscattered subworkflow's output: counted in the engine
        positions_onto_fanout(step, tasks, place)
        return
    var = ITEMS_VAR + port
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$", var):
        raise DefinitionError(place, f"output {excerpt(port)} cannot name a var")
    upstream["outputs"]["vars"] = sorted({*upstream["outputs"]["vars"], var})
    task["for_each"] = {"task": parts[0], "var": var}


CROSS_STEP = "#cross:"  # + a step id: the task counting a flat_crossproduct's items
CROSS_VAR = ITEMS_VAR + "positions"


def cross_task(step: str) -> str:
    return f"cwl-cross-{step}"[:100]


def cross_onto_fanout(step: Any, tasks: dict[str, dict]) -> None:
    """A `flat_crossproduct` or `nested_crossproduct` scatter as a fan-out over the
    positions of the product (the nested one's readers reshape it by the lengths): a
    task `cwl-cross-STEP`, in the engine, reads the scattered arrays and leaves the
    positions 0…n-1 (n the product of their lengths) as its var; instance K takes, of
    each scattered input, the element K names in row-major order (the first input
    outermost), so readers get the flat array CWL gives. A scattered step's output is
    its instances' array, a subworkflow's its output object's, as for any reader."""
    name = short(step.id)
    positions_onto_fanout(step, tasks, f"steps.{name}.scatter")


def positions_onto_fanout(step: Any, tasks: dict[str, dict], place: str) -> None:
    """The step's task fans out over the positions 0…n-1 its task `cwl-cross-STEP`
    leaves, in the engine, as its var: it merges the scattered inputs' sources as the
    step would (linkMerge, a JSON param parsed, a subworkflow's output object) and counts
    them (cwl_steps.cross_positions); instance K takes element K of each (row-major for
    a crossproduct). Per instance it costs one position; the count reads each array once."""
    name = short(step.id)
    task = tasks[name]
    cross = cross_task(name)
    if cross in tasks:
        raise DefinitionError(f"steps.{cross}", "this step name is the task wfobj gives "
                              f"step {name}'s scatter positions: rename the step")
    own = task["cwl"] if "cwl" in task else task["_inputs_task"][1]["cwl"]  # a subworkflow's
    cwl = {**own, "step": CROSS_STEP + own["step"].removeprefix(INPUTS_STEP)}
    tasks[cross] = {"image": ENGINE_IMAGE, "command": ["cwl-cross"],
                    "outputs": {"files": [], "vars": [OUTPUT_VAR, CROSS_VAR]}, "cwl": cwl}
    task["for_each"] = {"task": cross, "var": CROSS_VAR}


def outputs_task(workflow: Any, document_oid: str, within: str | None,
                 steps: set[str]) -> dict:
    """The task `cwl-outputs` of a compiled Workflow: evaluated in the engine after the
    steps its `outputSource`s name, its var `cwl` is the workflow's CWL output object
    (`linkMerge`, `pickValue` as cwltool does them)."""
    if OUTPUTS_TASK in steps:
        raise DefinitionError(f"steps.{OUTPUTS_TASK}", "this step name is the task wfobj "
                              "gives a workflow's outputs: rename the step")
    prefix = prefix_of(workflow)
    reads = set()
    for out in workflow.tool["outputs"]:
        sources = out.get("outputSource") or []
        for source in [sources] if isinstance(sources, str) else sources:
            parts = relative(source, prefix)
            if len(parts) == 2 and parts[0] in steps:
                reads.add(parts[0])
    cwl: dict[str, Any] = {"document": document_oid, "step": OUTPUTS_STEP,
                           "reads": sorted(reads)}
    if within is not None:
        cwl["process"] = within
    return {"image": ENGINE_IMAGE, "command": ["cwl-outputs"],
            "outputs": {"files": [], "vars": [OUTPUT_VAR]}, "cwl": cwl}


def step_task(step: Any, workflow: Any, document_oid: str, within: str | None,
              children: list[tuple[str, dict]], params: dict[str, dict]) -> dict:
    """The native task of one workflow step: a CWL task reading the steps its inputs'
    sources name, or for a subworkflow step a sub-workflow task (a child run)."""
    name = short(step.id)
    place = f"steps.{name}"
    tool = step.embedded_tool
    if tool.tool.get("class") == "Workflow":
        return subworkflow_task(step, workflow, document_oid, within, children, params)
    if tool.tool.get("class") not in ("CommandLineTool", "ExpressionTool"):
        raise DefinitionError(f"{place}.run", f"a {tool.tool.get('class')} step is not mapped "
                              "onto the engine yet (run the document with `wfobj cwl run`)")
    steps = {short(s.id) for s in workflow.steps}
    prefix = prefix_of(workflow)
    reads = set()
    for inp in step.tool["inputs"]:
        sources = inp.get("source") or []
        for source in [sources] if isinstance(sources, str) else sources:
            parts = relative(source, prefix)
            if len(parts) == 2 and parts[0] in steps:
                reads.add(parts[0])
    cwl = {"document": document_oid, "step": local(step.id), "reads": sorted(reads)}
    if within is not None:
        cwl["process"] = within
    return tool_task(tool, cwl)


def subworkflow_task(step: Any, workflow: Any, document_oid: str, within: str | None,
                     children: list[tuple[str, dict]], params: dict[str, dict]) -> dict:
    """A subworkflow step as a sub-workflow task: its workflow compiled into a child
    definition (registered with the parent, pinned by hash), its inputs passed as the
    child's params (each straight from one of the workflow's own inputs), its output
    object the child's (the var `cwl-outputs.cwl`). A step with `scatter` or `when` takes
    its input object whole from `cwl-in-STEP`, which judges the `when` and fans out with
    the step (paired: one input object and one child run per item)."""
    name = short(step.id)
    sub = step.embedded_tool
    child = compile_cwl(sub, document_oid, children=children, within=local(step.id))
    if "when" in step.tool or "scatter" in step.tool:
        # the task building the step's input object judges `when` (a condition skip) and,
        # scattered, is fanned out with the step: one input object, one child run per item
        return inputs_object_task(step, workflow, document_oid, within, children, child)
    given = {}
    prefix = prefix_of(workflow)
    for inp in step.tool["inputs"]:
        sources = inp.get("source")
        sources = [sources] if isinstance(sources, str) else list(sources or [])
        parts = relative(sources[0], prefix) if len(sources) == 1 else []
        if short(inp["id"]) not in child["params"]:
            continue  # an input the subworkflow does not declare
        direct = params.get(parts[0], {}) if len(parts) == 1 and "valueFrom" not in inp else {}
        if direct.get("optional") or direct.get("type") not in ("string", "int", "float",
                                                                 "bool", "file", "dir"):
            return inputs_object_task(step, workflow, document_oid, within, children, child)
        given[short(inp["id"])] = "{{params." + parts[0] + "}}"
    return {"workflow": {"name": child_named(children, name, child)}, "params": given,
            "outputs": {"vars": [f"{OUTPUTS_TASK}.{OUTPUT_VAR}"]}}


def child_named(children: list[tuple[str, dict]], step: str, child: dict) -> str:
    child_name = f"cwl-{step}"
    taken = {n for n, _ in children}
    while child_name in taken:
        child_name += "_"
    children.append((child_name, child))
    return child_name


INPUTS_STEP = "#inputs:"  # + a step id: the `cwl.step` of a task giving its input object
INPUTS_PARAM = "cwl_inputs"  # a child's one param when it takes its input object whole


def inputs_object_task(step: Any, workflow: Any, document_oid: str, within: str | None,
                       children: list[tuple[str, dict]], child: dict) -> dict:
    """A subworkflow step whose inputs are not all straight workflow inputs (a step's
    output, `valueFrom`, several sources, an optional or array input): a task
    `cwl-in-STEP`, in the engine, builds the step's input object as a CWL step would (its
    var `cwl`), and the child takes it whole as its one param `cwl_inputs` (JSON text)."""
    name = short(step.id)
    place = f"steps.{name}"
    if INPUTS_PARAM in child["params"]:
        raise DefinitionError(f"{place}.in.{INPUTS_PARAM}", "this input name is the param "
                              "wfobj gives a subworkflow's input object: rename it")
    child = {**child, "params": {INPUTS_PARAM: {"type": "string"}},
             "tasks": scatters_over_object(child["tasks"], document_oid, local(step.id),
                                           place)}
    steps = {short(s.id) for s in workflow.steps}
    reads = set()
    for inp in step.tool["inputs"]:
        sources = inp.get("source") or []
        for source in [sources] if isinstance(sources, str) else sources:
            parts = relative(source, prefix_of(workflow))
            if len(parts) == 2 and parts[0] in steps:
                reads.add(parts[0])
    cwl = {"document": document_oid, "step": INPUTS_STEP + local(step.id),
           "reads": sorted(reads)}
    if within is not None:
        cwl["process"] = within
    maker = {"image": ENGINE_IMAGE, "command": ["cwl-inputs"],
             "outputs": {"files": [], "vars": [OUTPUT_VAR]}, "cwl": cwl}
    inputs_task = f"cwl-in-{name}"[:100]
    return {"workflow": {"name": child_named(children, name, child)},
            "params": {INPUTS_PARAM: "{{tasks." + inputs_task + ".vars." + OUTPUT_VAR + "}}"},
            "outputs": {"vars": [f"{OUTPUTS_TASK}.{OUTPUT_VAR}"]},
            "_inputs_task": (inputs_task, maker)}


PARAMS_STEP = "#params"  # the `cwl.step` of a child's task giving its input object
PARAMS_TASK = "cwl-params"


def scatters_over_object(tasks: dict[str, dict], document_oid: str, within: str,
                         place: str) -> dict[str, dict]:
    """The tasks of a child taking its input object whole (`cwl_inputs`): a scatter over
    one of its inputs cannot fan out over a param any more, so it fans out over the
    positions of that input in the object instead (the var `cwl_items_INPUT` of a task
    `cwl-params`, in the engine, whose output object is the child's input object)."""
    scattered = sorted({t["for_each"]["param"] for t in tasks.values()
                        if "param" in t.get("for_each", {})})
    if not scattered:
        return tasks
    for param in scattered:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$", ITEMS_VAR + param):
            raise DefinitionError(f"{place}.in.{param}", f"input {excerpt(param)} cannot "
                                  "name a var (scattered inside a subworkflow taking its "
                                  "input object whole)")
    if PARAMS_TASK in tasks:
        raise DefinitionError(f"{place}.run.steps.{PARAMS_TASK}", "this step name is the "
                              "task wfobj gives a subworkflow's input object: rename the step")
    out = {}
    for name, task in tasks.items():
        each = task.get("for_each", {})
        if "param" in each:
            task = {**task, "for_each": {"task": PARAMS_TASK,
                                         "var": ITEMS_VAR + each["param"]}}
        out[name] = task
    out[PARAMS_TASK] = {"image": ENGINE_IMAGE, "command": ["cwl-params"],
                        "outputs": {"files": [], "vars": [OUTPUT_VAR] + [
                            ITEMS_VAR + p for p in scattered]},
                        "cwl": {"document": document_oid, "step": PARAMS_STEP,
                                "process": within, "reads": []}}
    return out


def compile_source(raw: dict) -> tuple[dict, bytes, list[tuple[str, dict]]]:
    """(native definition mapping, packed document bytes, the child definitions of its
    subworkflows (name, mapping), deepest first) of a CWL document body: packed and
    validated by cwltool, then compiled against the hash its bytes will be stored as."""
    from wfobj.objstore import hash_bytes

    document = canonical(pack_document(raw))
    oid = hash_bytes(document)
    children: list[tuple[str, dict]] = []
    return compile_cwl(loaded_process(document, oid), oid, children=children), document, children


def check_cwl_tasks(definition: Any, store: Any) -> None:
    """A native definition's CWL tasks checked at registration: the document a blob of
    the store that cwltool loads, `process` and `step` steps of it (DefinitionError
    naming the task)."""
    for name, task in definition.tasks.items():
        if task.cwl is None:
            continue
        place, oid = f"tasks.{name}.cwl", task.cwl["document"]
        if oid not in store or store.type_of(oid) != "blob":
            raise DefinitionError(f"{place}.document", f"{oid} is not a blob of this store "
                                  "(upload the packed CWL document first)")
        process = loaded_process(b"".join(store.iter_blob(oid)), oid)
        workflow = process
        for key in ("process", "step"):
            wanted = task.cwl.get(key)
            if wanted is None or wanted in (OUTPUTS_STEP, PARAMS_STEP):
                continue
            wanted = wanted.removeprefix(INPUTS_STEP).removeprefix(CROSS_STEP)
            found = find_step_in(workflow, wanted)
            if found is None:
                raise DefinitionError(f"{place}.{key}", f"the document has no step "
                                      f"{excerpt(wanted)}")
            if key == "process":
                workflow = found.embedded_tool


def find_step_in(workflow: Any, step_id: str) -> Any:
    """The step `step_id` of `workflow` or of a subworkflow of it, or None."""
    for step in getattr(workflow, "steps", []):
        if local(step.id) == step_id:
            return step
        inner = step.embedded_tool
        if inner.tool.get("class") == "Workflow" and step_id.startswith(local(step.id) + "/"):
            return find_step_in(inner, step_id)
    return None

"""RO-Crate: a zip holding a Workflow Run Crate that follows the Provenance Run Crate
profile, built with the `rocrate` library.

The workflow is its normalized definition (`workflow/definition.json`), or, for a
definition made from a document in another language (its `source`: the CWL file `wfobj cwl
run` ran), that document (`workflow/<name>`, programmingLanguage CWL) with the definition
a file based on it; each task is a
tool (SoftwareApplication) and a step (HowToStep); each task attempt is a CreateAction
(instrument: the tool, containerImage: the image by id, object: inputs, result: outputs,
agent: the user who triggered the run); a ControlAction per step groups its attempts; the
run is the workflow's CreateAction, and an OrganizeAction by the engine ties them together.
The zip is written as it is sent (`stream_ro_crate`); the library builds only the
metadata. Files are `files/<blake3>`; with `files=False` they stay listed (sizes, hashes, named by
an `ni:` URI of their SHA-256) but their bytes are left out of the zip. A directory (a
`dir` parameter, input or output) is a Dataset, the folder `trees/<tree hash>/`, whose
`hasPart` lists the File entities of the files inside it (their bytes stay under
`files/`, once however many directories hold them).
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import time
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

from rocrate.model.computerlanguage import ComputerLanguage, get_lang
from rocrate.model.contextentity import ContextEntity
from rocrate.rocrate import ROCrate

from wfobj.engine.clock import parse_time
from wfobj.engine.definitions.fanout import base_task
from wfobj.engine.definitions.params import param_type
from wfobj.engine.states import TaskStatus
from wfobj.objstore import ObjectStore

from .json_stream import chunked
from .run_export import Attempt, Content, RunExport

WFRUN_VERSION = "0.5"
PROFILES = {
    f"https://w3id.org/ro/wfrun/process/{WFRUN_VERSION}": "Process Run Crate",
    f"https://w3id.org/ro/wfrun/workflow/{WFRUN_VERSION}": "Workflow Run Crate",
    f"https://w3id.org/ro/wfrun/provenance/{WFRUN_VERSION}": "Provenance Run Crate",
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0": "Workflow RO-Crate",
}
# the RO-Crate version the Workflow Run Crate 0.5 profiles are written for
CRATE_VERSION = "1.1"
WFRUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"
# terms no published context defines yet, in wfobj's own namespace
WFOBJ_TERMS = {"exitCode": "urn:wfobj:ns#exitCode"}
DOCKER_IMAGE = "https://w3id.org/ro/terms/workflow-run#DockerImage"
STATUS = {TaskStatus.SUCCESS: "CompletedActionStatus", TaskStatus.FAILED: "FailedActionStatus",
          TaskStatus.KILLED: "FailedActionStatus", TaskStatus.RUNNING: "ActiveActionStatus",
          TaskStatus.PENDING: "PotentialActionStatus"}
DEFINITION_PATH = "workflow/definition.json"
FORMAL_PARAMETER_PROFILE = "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"
PARAM_TYPES = {"file": "File", "dir": "Dataset", "int": "Integer", "float": "Float",
               "bool": "Boolean", "string": "Text"}
WORKFLOW_TYPES = ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"]
# a definition's `source` languages the crate names (rocrate's get_lang) and their formats
SOURCE_LANGUAGES = {"cwl"}


def export_ro_crate(store: ObjectStore, run: RunExport, *, files: bool = True) -> bytes:
    """The crate as zip bytes, whole (tests and small runs; the API streams it)."""
    return b"".join(stream_ro_crate(store, run, files=files))


def stream_ro_crate(store: ObjectStore, run: RunExport, *, files: bool = True) -> Iterator[bytes]:
    """The crate's zip in pieces, written as it is read: the definition and the
    directories' folders first, then each file's bytes straight from the store (verified
    piece by piece, its SHA-256 taken on the way), and last `ro-crate-metadata.json`,
    which needs those digests. Nothing is held whole and nothing goes to disk: the zip
    is written to an unseekable sink, so each member's sizes follow it in a data
    descriptor. A file whose bytes prove damaged raises partway: the zip is then cut
    short, never finished with the damage in it."""
    sink = Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as z:
        text = definition_text(run)
        z.writestr(member(DEFINITION_PATH, len(text)), text)
        source = SourceDocument.of(store, run)
        if source is not None:
            with z.open(member(source.path, source.size), "w") as out:
                for piece in store.iter_blob(source.hash):
                    out.write(piece)
        for tree in run.trees().values():
            z.writestr(zipfile.ZipInfo(f"trees/{tree.hash}/"), b"")
        yield sink.take()
        sha256s: dict[str, str] = {}
        for f in run.files().values():
            digest = hashlib.sha256()
            if files:
                with z.open(member(f"files/{f.hash}", f.size), "w") as out:
                    for piece in store.iter_blob(f.hash):
                        digest.update(piece)
                        out.write(piece)
                        if sink.pending() >= PIECE:
                            yield sink.take()
            else:
                for piece in store.iter_blob(f.hash):
                    digest.update(piece)
            sha256s[f.hash] = digest.hexdigest()
            yield sink.take()
        crate = CrateBuilder(run, sha256s, files, source).build()
        # written as it is encoded, entity by entity: never the whole text (the encoder
        # alone held a small string per token of it, many times the text's size)
        with z.open(streamed_member(crate.metadata.id), "w", force_zip64=True) as out:
            for piece in chunked(metadata_pieces(crate)):
                out.write(piece)
                if sink.pending() >= PIECE:
                    yield sink.take()
    yield sink.take()


GRAPH_INDENT = "\n" + " " * 8  # an entity's lines, inside the document's "@graph"


def metadata_pieces(crate: ROCrate) -> Iterator[str]:
    """`ro-crate-metadata.json` in pieces, as the library writes it whole
    (`json.dumps(crate.metadata.generate(), indent=4, sort_keys=True,
    ensure_ascii=False)`), each entity encoded as it is reached. JSON text holds no raw
    newline inside a string, so indenting a piece's new lines indents the entity."""
    with warnings.catch_warnings():
        # the library warns once per file it lists but was given no bytes of
        warnings.filterwarnings("ignore", "No source for", UserWarning)
        document = crate.metadata.generate()  # the context, and the entities (not copied)
    encoder = json.JSONEncoder(indent=4, sort_keys=True, ensure_ascii=False)
    context = encoder.encode(document["@context"]).replace("\n", "\n    ")
    yield f'{{\n    "@context": {context},\n    "@graph": ['
    for n, entity in enumerate(document["@graph"]):
        yield ("," if n else "") + GRAPH_INDENT
        for piece in encoder.iterencode(entity):
            yield piece.replace("\n", GRAPH_INDENT)
    yield "\n    ]\n}"


PIECE = 1 << 20  # what the sink gathers before it is sent


class Sink:
    """An unseekable file the zip is written to, emptied as it is sent."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def flush(self) -> None:
        pass

    def pending(self) -> int:
        return len(self.buffer)

    def take(self) -> bytes:
        data, self.buffer = bytes(self.buffer), bytearray()
        return data


def member(name: str, size: int) -> zipfile.ZipInfo:
    """A deflated zip member of `size` bytes (its size known ahead, so a member over
    4 GiB gets its ZIP64 fields)."""
    info = zipfile.ZipInfo(name, date_time=time.localtime(time.time())[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.file_size = size
    return info


def streamed_member(name: str) -> zipfile.ZipInfo:
    """A deflated zip member written as it is made: its sizes follow it (a data
    descriptor, with ZIP64 fields, whatever size it reaches)."""
    info = zipfile.ZipInfo(name, date_time=time.localtime(time.time())[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def definition_text(run: RunExport) -> bytes:
    return json.dumps(run.definition.as_json(), indent=2, sort_keys=True).encode()


@dataclass(frozen=True)
class SourceDocument:
    """The document a run's definition was made from (its `source`, e.g. the CWL file
    `wfobj cwl run` ran), when the store holds it: the crate's main workflow, in its
    language, at `workflow/<its name>`; the wfobj definition is then a file based on it."""

    hash: str
    size: int
    path: str
    language: str
    version: str | None
    process: str | None

    @classmethod
    def of(cls, store: ObjectStore, run: RunExport) -> SourceDocument | None:
        source = run.definition.source
        if not source or source.get("language") not in SOURCE_LANGUAGES:
            return None
        oid = source["document"]
        if oid not in store:
            return None  # named by hash only (a pulled store without it): not the main entity
        process = source.get("process")
        name = (process or "").split("#", 1)[0].rsplit("/", 1)[-1]
        if name in ("", ".", "..") or not name.isprintable():
            name = "workflow.cwl"
        return cls(oid, store.size_of(oid), f"workflow/{name}", source["language"],
                   source.get("version"), process)


class CrateBuilder:
    """Adds the entities of one run to a new crate."""

    def __init__(self, run: RunExport, sha256s: dict[str, str], files: bool,
                 source: SourceDocument | None = None) -> None:
        """`sha256s`: each file's SHA-256 by its hash (taken as its bytes were sent);
        `source`: the document the definition was made from, in the zip."""
        self.run, self.sha256s, self.with_files, self.source = run, sha256s, files, source
        self.crate = ROCrate(version=CRATE_VERSION)

    def build(self) -> ROCrate:
        crate, run = self.crate, self.run
        crate.metadata.extra_contexts.append(WFRUN_CONTEXT)
        crate.metadata.extra_terms.update(WFOBJ_TERMS)
        crate.license = self.entity(
            "#license-not-declared", "CreativeWork", name="No licence declared",
            description="wfobj does not know the licence of this run's workflow and files; "
                        "set one before publishing the crate")
        crate.name = f"wfobj run {run.run_id} of {run.workflow}"
        crate.description = (f"Provenance of run {run.run_id} of workflow {run.workflow} "
                             f"(definition {run.definition_hash}), state {run.state}")
        crate.datePublished = crate_time(run.ended_at or run.created_at)
        crate.root_dataset["conformsTo"] = [self.add_profile(uri, name)
                                            for uri, name in PROFILES.items()]
        self.person = self.entity("#user-" + quote(run.triggered_by, safe=":"), "Person",
                                  name=run.triggered_by)
        crate.root_dataset["author"] = self.person
        self.engine = self.entity("#wfobj-engine", "SoftwareApplication", name="wfobj",
                                  softwareVersion=run.engine_version)
        self.files = {oid: self.add_file(f) for oid, f in run.files().items()}
        self.trees = {oid: self.add_folder(t) for oid, t in run.trees().items()}
        self.workflow = self.add_workflow()
        self.link_examples()
        controls = [self.add_control(name) for name in self.task_names
                    if any(base_task(a.task) == name for a in run.attempts)]
        run_action = self.add_run_action()
        crate.root_dataset["mentions"] = [run_action] + crate.get_by_type("CreateAction")[:-1]
        self.entity(f"#organize-{run.run_id}", "OrganizeAction",
                    name=f"wfobj ran {run.run_id}", instrument=self.engine,
                    description=f"the wfobj engine ran run {run.run_id}: {run.state}",
                    agent=self.person, object=controls, result=run_action,
                    actionStatus=status(run.state),
                    **times(run.started_at or run.created_at, run.ended_at))
        return crate

    def entity(self, entity_id: str, kind: str | list[str], **props) -> ContextEntity:
        """A contextual entity; None and [] values are left out, a one-item list is
        written as its item (RO-Crate's JSON-LD recommendation)."""
        props = {k: one_or_many(v) for k, v in props.items() if one_or_many(v) is not None}
        return self.crate.add(ContextEntity(self.crate, entity_id,
                                            properties={"@type": kind, **props}))

    def add_profile(self, uri: str, name: str) -> ContextEntity:
        return self.entity(uri, "CreativeWork", name=name,
                           version=uri.rsplit("/", 1)[-1])

    def add_file(self, f: Content):
        """In the zip as `files/<blake3>`; without files, named by its content (an RFC
        6920 `ni:` URI of its SHA-256): RO-Crate 1.1 wants a file not in the payload to
        have an absolute URI."""
        sha256 = self.sha256s[f.hash]
        props = {"name": f.path, "contentSize": str(f.size), "identifier": f"blake3:{f.hash}",
                 "sha256": sha256,
                 "encodingFormat": mimetypes.guess_type(f.path)[0] or "application/octet-stream"}
        if not self.with_files:
            return self.crate.add_file(ni_uri(sha256), properties=props)
        return self.crate.add_file(dest_path=f"files/{f.hash}", properties=props)

    def add_folder(self, tree: Content):
        """A directory as a Dataset: the folder `trees/<tree hash>/`, `hasPart` its files."""
        inside = self.run.files_in(tree)
        parts = list({f.hash: self.files[f.hash] for f in inside}.values())
        props = {"name": tree.path, "contentSize": str(tree.size),
                 "identifier": f"urn:wfobj:tree:{tree.hash}",
                 "description": f"directory (tree {tree.hash}) of {len(inside)} file(s)"}
        if parts:
            props["hasPart"] = one_or_many(parts)
        return self.crate.add_dataset(dest_path=f"trees/{tree.hash}/", properties=props)

    def data(self, c: Content):
        """The entity of a content: its Dataset for a directory, else its File."""
        return self.trees[c.hash] if c.is_dir else self.files[c.hash]

    def add_workflow(self):
        run = self.run
        workflow = self.add_source_workflow() if self.source else None
        if workflow is None:
            lang = self.crate.add(ComputerLanguage(self.crate, "#wfobj-definition", properties={
                "name": "wfobj workflow definition", "alternateName": "wfobj"}))
            workflow = self.crate.add_workflow(
                dest_path=DEFINITION_PATH, main=True, lang=lang,
                properties={"@type": WORKFLOW_TYPES, "name": run.workflow,
                            "identifier": run.definition_hash, "version": run.definition_hash,
                            "encodingFormat": "application/json",
                            "description": run.definition.description or None})
        params = run.definition.params
        self.param_formals = {name: self.formal(f"#formal-param-{name}", name, spec.type,
                                                defaultValue=text_of(spec.default))
                              for name, spec in sorted(params.items())}
        # a tool and a step per task of the definition: a fanned-out task's instances are
        # actions of its one tool (their names, TASK[KEY], are on the actions)
        self.task_names = [name for name in run.task_order if base_task(name) == name]
        self.tools = {name: self.add_tool(name) for name in self.task_names}
        self.steps = {name: self.entity(f"#step-{name}", "HowToStep", name=name,
                                        position=str(i), workExample=self.tools[name])
                      for i, name in enumerate(self.task_names)}
        slots = {"hasPart": list(self.tools.values()), "step": list(self.steps.values()),
                 "input": list(self.param_formals.values()),
                 "output": [out for tool in self.tools.values()
                            for out in as_list(tool.get("output"))]}
        for key, values in slots.items():
            if values:
                workflow[key] = one_or_many(values)
        return workflow

    def add_source_workflow(self):
        """The source document as the main workflow, in its language (CWL: the Workflow
        RO-Crate's `#cwl` ComputerLanguage, its version's identifier); the wfobj definition
        made from it a file based on it."""
        run, src = self.run, self.source
        lang = get_lang(self.crate, src.language, version=src.version)
        self.crate.add(lang)
        process = f" (process {src.process})" if src.process else ""
        workflow = self.crate.add_workflow(
            dest_path=src.path, main=True, lang=lang,
            properties={"@type": WORKFLOW_TYPES, "name": src.process or src.path,
                        "identifier": f"blake3:{src.hash}", "contentSize": str(src.size),
                        "description": f"the {lang['name']} document run as wfobj workflow "
                                       f"{run.workflow}{process}"})
        self.crate.add_file(dest_path=DEFINITION_PATH, properties={
            "name": f"wfobj definition of {run.workflow}", "identifier": run.definition_hash,
            "encodingFormat": "application/json", "isBasedOn": workflow,
            "description": f"the wfobj definition {run.definition_hash} made from "
                           f"{src.path}; its tasks are the steps of this crate"})
        return workflow

    def formal(self, entity_id: str, name: str, kind: str, **props) -> ContextEntity:
        """A FormalParameter (Bioschemas): a declared input or output slot."""
        return self.entity(entity_id, "FormalParameter", name=name,
                           additionalType=PARAM_TYPES.get(kind, "Text"),
                           conformsTo={"@id": FORMAL_PARAMETER_PROFILE}, **props)

    def add_tool(self, task: str) -> ContextEntity:
        """The task as a tool, with its declared inputs and output files as parameters."""
        spec = self.run.definition.tasks[task]
        dirs = self.dir_slots()
        inputs = [self.formal(formal_id(task, "in", name), name,
                              "dir" if (task, f"/in/{name}") in dirs else "file")
                  for name in sorted(spec.inputs)]
        outputs = [self.formal(formal_id(task, "out", path), path,
                               "dir" if (task, path) in dirs else "file")
                   for path in spec.outputs.files]
        if spec.workflow is not None:  # a sub-workflow: the step's tool is a workflow
            return self.entity(f"#tool-{task}", ["SoftwareApplication", "ComputationalWorkflow"],
                               name=task, identifier=spec.workflow["hash"],
                               alternateName=spec.workflow["name"],
                               description=f"sub-workflow {spec.workflow['name']} "
                                           f"(definition {spec.workflow['hash']})",
                               input=inputs or None, output=outputs or None)
        return self.entity(f"#tool-{task}", "SoftwareApplication", name=task,
                           input=inputs or None, output=outputs or None)

    def dir_slots(self) -> set[tuple[str, str]]:
        """(task, path) of every input and output some attempt recorded as a directory."""
        return {(base_task(a.task), c.path) for a in self.run.attempts
                for c in a.inputs + a.outputs if c.is_dir}

    def link_examples(self) -> None:
        """Each file names the parameters it filled (`exampleOfWork`): a workflow
        parameter, a task's input, a task's declared output."""
        slots: dict[str, dict[str, ContextEntity]] = {}  # entity id -> the slots it filled
        for c in self.run.param_contents:
            slots.setdefault(self.data(c).id, {})[f"p/{c.path}"] = self.param_formals[c.path]
        for a in self.run.attempts:
            for c in a.inputs:
                found = self.crate.dereference(formal_id(base_task(a.task), "in",
                                                         c.path.rsplit("/", 1)[-1]))
                if found is not None:
                    slots.setdefault(self.data(c).id, {})[found.id] = found
            for c in a.outputs:
                found = self.crate.dereference(formal_id(base_task(a.task), "out", c.path))
                if found is not None:
                    slots.setdefault(self.data(c).id, {})[found.id] = found
        for entity_id, found in slots.items():
            self.crate.dereference(entity_id)["exampleOfWork"] = one_or_many(list(found.values()))

    def add_control(self, task: str) -> ContextEntity:
        attempts = [a for a in self.run.attempts if base_task(a.task) == task]
        instances = len({a.task for a in attempts} - {task})
        what = f"{instances} instance(s), " if instances else ""
        return self.entity(f"#control-{task}", "ControlAction", name=f"orchestrate {task}",
                           description=f"the engine ran task {task}: {what}{len(attempts)} "
                                       f"attempt(s), the last {attempts[-1].state}",
                           instrument=self.steps[task],
                           object=[self.add_attempt(a) for a in attempts],
                           actionStatus=status(attempts[-1].state),
                           **times(attempts[0].started_at, attempts[-1].ended_at))

    def add_attempt(self, a: Attempt) -> ContextEntity:
        if a.child_run is not None:
            return self.add_child_attempt(a)
        registry, name, tag = split_image(a.image)
        image = self.entity(f"#image-{a.image_facts_hash}", "ContainerImage",
                            additionalType={"@id": DOCKER_IMAGE}, name=name, tag=tag,
                            registry=registry, alternateName=a.image, identifier=a.image_id,
                            sha256=(a.image_id or "").removeprefix("sha256:") or None)
        reused = self.reused(a.cached_from) if a.cached_from else None
        return self.entity(
            f"#attempt-{a.evidence_hash}", "CreateAction",
            name=f"{a.task} attempt {a.number}", identifier=a.evidence_hash,
            instrument=self.tools[base_task(a.task)], containerImage=image, agent=self.person,
            object=[self.data(c) for c in a.inputs],
            result=[self.data(c) for c in a.outputs],
            actionStatus=status(a.state), error=a.error, exitCode=a.exit_code,
            isBasedOn=reused, description=attempt_description(a),
            **times(a.started_at, a.ended_at))

    def add_child_attempt(self, a: Attempt) -> ContextEntity:
        """A sub-workflow task's attempt: the action running the child workflow, naming
        the child run (exported on its own, with `parent` pointing back here)."""
        child = self.entity(f"#run-{a.child_run}", "CreateAction",
                            name=f"child run {a.child_run}", identifier=a.child_run,
                            instrument=self.tools[base_task(a.task)],
                            description=f"the run of the sub-workflow of task {a.task}")
        return self.entity(
            f"#attempt-{a.evidence_hash}", "CreateAction",
            name=f"{a.task} attempt {a.number}", identifier=a.evidence_hash,
            instrument=self.tools[base_task(a.task)], agent=self.person,
            object=[self.data(c) for c in a.inputs], result=[self.data(c) for c in a.outputs],
            actionStatus=status(a.state), error=a.error, subjectOf=child,
            description=f"sub-workflow task {a.task}: child run {a.child_run}, {a.state}",
            **times(a.started_at, a.ended_at))

    def reused(self, evidence_hash: str) -> ContextEntity:
        """The attempt a cache hit reused: this crate's action for it if it is in this
        run, else an entity naming its evidence hash."""
        found = self.crate.dereference(f"#attempt-{evidence_hash}")
        if found is not None:
            return found
        return self.entity(f"#evidence-{evidence_hash}", "CreativeWork",
                           name=f"task evidence {evidence_hash}", identifier=evidence_hash,
                           description="the attempt whose outputs a cache hit reused")

    def add_run_action(self) -> ContextEntity:
        run = self.run
        params = [self.entity(f"#param-{name}", "PropertyValue", name=name,
                              value=text_of(value), exampleOfWork=self.param_formals.get(name))
                  for name, value in sorted(run.parameters.items())
                  if param_type(run.definition.params, name) not in ("file", "dir")]
        param_files = [self.data(c) for c in run.param_contents]
        return self.entity(
            f"#run-{run.run_id}", "CreateAction", name=f"run {run.run_id} of {run.workflow}",
            identifier=run.run_id, instrument=self.workflow, agent=self.person,
            object=param_files + params,
            result=[self.data(c) for _, c in run.outputs()],
            actionStatus=status(run.state),
            description=f"run {run.run_id} of workflow {run.workflow}: {run.state}",
            **times(run.started_at or run.created_at, run.ended_at))


def status(state: str) -> str:
    """As the profile's examples write it: the schema.org status IRI as text."""
    return "http://schema.org/" + STATUS.get(state, "FailedActionStatus")


def attempt_description(a: Attempt) -> str:
    text = f"attempt {a.number} of task {a.task}: {a.state}, exit code {a.exit_code}"
    if a.cached_from:
        text += f"; cache hit: reused the outputs of attempt {a.cached_from}"
    return text


def split_image(reference: str) -> tuple[str, str, str | None]:
    """(registry, repository, tag) of a Docker image reference; Docker Hub when the
    first part names no registry host."""
    rest, _, digest = reference.partition("@")
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, remainder
    else:
        registry = "docker.io"
    name, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "")
    return registry, name, tag or (digest or None)


def ni_uri(sha256_hex: str) -> str:
    """RFC 6920 Named Information URI of a SHA-256 digest."""
    digest = base64.urlsafe_b64encode(bytes.fromhex(sha256_hex)).rstrip(b"=").decode()
    return f"ni:///sha-256;{digest}"


def one_or_many(value):
    """[] -> None, [x] -> x, anything else as it is."""
    if isinstance(value, list):
        return None if not value else value[0] if len(value) == 1 else value
    return value


def formal_id(task: str, side: str, name: str) -> str:
    return f"#formal-{task}-{side}-{quote(name, safe='/')}"


def text_of(value) -> str | None:
    """A parameter value as text (JSON for numbers and booleans); None stays None."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def times(start: str | None, end: str | None) -> dict:
    return {"startTime": crate_time(start), "endTime": crate_time(end)}


def crate_time(text: str | None) -> str | None:
    """An engine time (microseconds, `Z`) as the profile writes times: milliseconds and
    a `+00:00` offset. The exact times stay in the evidence the action names."""
    if text is None:
        return None
    return parse_time(text).isoformat(timespec="milliseconds")

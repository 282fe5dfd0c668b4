"""RO-Crate: a zip holding a Workflow Run Crate that follows the Provenance Run Crate
profile, written as the run is read (engine/provenance/exports/run_stream.py).

The workflow is its normalized definition (`workflow/definition.json`), or, for a
definition made from a document in another language (its `source`: the CWL file `wfobj cwl
run` ran), that document (`workflow/<name>`, programmingLanguage CWL) with the definition
a file based on it; each task is a tool (SoftwareApplication) and a step (HowToStep); each
task attempt is a CreateAction (instrument: the tool, containerImage: the image by id,
object: inputs, result: outputs, agent: the user who triggered the run); a ControlAction
per step groups its attempts; the run is the workflow's CreateAction, and an
OrganizeAction by the engine ties them together. Files are `files/<blake3>`; with
`files=False` they stay listed (sizes, hashes, named by an `ni:` URI of their SHA-256) but
their bytes are left out of the zip. A directory (a `dir` parameter, input or output) is
a Dataset, the folder `trees/<tree hash>/`, whose `hasPart` lists the File entities of the
files inside it (their bytes stay under `files/`, once however many directories hold them).

Nothing of the run is held whole: the zip is written as it is sent, each file's bytes
straight from the store; `ro-crate-metadata.json` is written entity by entity, each
made as the run's attempts are read again (the root's list of files, the files' and
attempts' entities, the run's results: a pass each), its long lists (the root's
`hasPart` and `mentions`, a step's attempts, the run's results, a directory's files)
written item by item. What the crate needs of the whole run is
gathered while the files are sent (`Survey`): per definition task a few counts and the
table rows holding its attempts, the directories' slots, and which slots each file or
directory filled (`exampleOfWork`, a few bits by its hash). The
entities are JSON-LD written here; the `rocrate` library reads them back in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from urllib.parse import quote

from wfobj.engine.clock import parse_time
from wfobj.engine.definitions.fanout import base_task
from wfobj.engine.definitions.params import param_type
from wfobj.engine.model import Definition, TaskEvidence, read
from wfobj.engine.states import TaskStatus
from wfobj.objstore import ObjectStore

from .digests import Sha256s
from .json_stream import chunked
from .run_stream import Attempt, Content, RunStream
from .zip_stream import Sink, member, open_zip, streamed_member

WFRUN_VERSION = "0.5"
WROC_PROFILE = "https://w3id.org/workflowhub/workflow-ro-crate/1.0"
PROFILES = {
    f"https://w3id.org/ro/wfrun/process/{WFRUN_VERSION}": "Process Run Crate",
    f"https://w3id.org/ro/wfrun/workflow/{WFRUN_VERSION}": "Workflow Run Crate",
    f"https://w3id.org/ro/wfrun/provenance/{WFRUN_VERSION}": "Provenance Run Crate",
    WROC_PROFILE: "Workflow RO-Crate",
}
# the RO-Crate version the Workflow Run Crate 0.5 profiles are written for
CRATE_VERSION = "1.1"
CRATE_SPEC = f"https://w3id.org/ro/crate/{CRATE_VERSION}"
WFRUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"
# terms no published context defines yet, in wfobj's own namespace
WFOBJ_TERMS = {"exitCode": "urn:wfobj:ns#exitCode"}
CONTEXT = [f"{CRATE_SPEC}/context", WFRUN_CONTEXT, WFOBJ_TERMS]
METADATA = "ro-crate-metadata.json"
DOCKER_IMAGE = "https://w3id.org/ro/terms/workflow-run#DockerImage"
STATUS = {TaskStatus.SUCCESS: "CompletedActionStatus", TaskStatus.FAILED: "FailedActionStatus",
          TaskStatus.KILLED: "FailedActionStatus", TaskStatus.RUNNING: "ActiveActionStatus",
          TaskStatus.PENDING: "PotentialActionStatus"}
DEFINITION_PATH = "workflow/definition.json"
FORMAL_PARAMETER_PROFILE = "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"
PARAM_TYPES = {"file": "File", "dir": "Dataset", "int": "Integer", "float": "Float",
               "bool": "Boolean", "string": "Text"}
WORKFLOW_TYPES = ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"]
# a definition's `source` languages the crate names, as Workflow RO-Crate does
SOURCE_LANGUAGES = {"cwl"}
CWL_LANGUAGE = "https://w3id.org/workflowhub/workflow-ro-crate#cwl"
SHA256_KEPT = 16_384  # files whose SHA-256 is kept once sent (read again past it)
PIECE = 1 << 20  # the zip's bytes gathered before they are sent

Entity = dict  # a JSON-LD node: "@id", "@type" and its properties


def stream_ro_crate(store: ObjectStore, run: RunStream, *, files: bool = True) -> Iterator[bytes]:
    """The crate's zip in pieces, written as it is read: the definition first, then each
    directory's folder and each file's bytes straight from the store (verified piece by
    piece, its SHA-256 taken on the way), and last `ro-crate-metadata.json`, written
    entity by entity. Nothing is held whole and nothing goes to disk: the zip is written
    to an unseekable sink, so each member's sizes follow it in a data descriptor. A file
    whose bytes prove damaged raises partway: the zip is then cut short, never finished
    with the damage in it."""
    sink = Sink(PIECE)
    crate = Crate(store, run, files, SourceDocument.of(store, run))
    with open_zip(sink) as z:
        text = definition_text(run)
        z.writestr(member(DEFINITION_PATH, len(text)), text)
        if crate.source is not None:
            with z.open(member(crate.source.path, crate.source.size), "w") as out:
                for piece in store.iter_blob(crate.source.hash):
                    out.write(piece)
        yield sink.take()
        for c in distinct_data(run, crate.surveyed_contents()):
            if c.is_dir:
                z.writestr(zipfile.ZipInfo(f"trees/{c.hash}/"), b"")
                continue
            digest = hashlib.sha256()
            if files:
                with z.open(member(f"files/{c.hash}", c.size), "w") as out:
                    for piece in store.iter_blob(c.hash):
                        digest.update(piece)
                        out.write(piece)
                        if sink.full():
                            yield sink.take()
            else:
                for piece in store.iter_blob(c.hash):
                    digest.update(piece)
            crate.sha256.keep(c.hash, digest.hexdigest())
            if sink.pending():
                yield sink.take()
        with z.open(streamed_member(METADATA), "w", force_zip64=True) as out:
            for piece in chunked(metadata_pieces(crate.entities())):
                out.write(piece)
                if sink.full():
                    yield sink.take()
    yield from sink.drain()  # the zip's central directory, written as it closed


def distinct_data(run: RunStream, contents: Iterable[Content]) -> Iterator[Content]:
    """Each directory and each file of `contents` the first time it is met, in their
    order (`Distinct`)."""
    met = Distinct(run)
    for c in contents:
        yield from met.of(c)


class Distinct:
    """The directories and files met so far in a pass over the run's contents: each
    distinct hash, about 100 bytes each."""

    def __init__(self, run: RunStream) -> None:
        self.run, self.trees, self.blobs = run, Met(), Met()

    def of(self, c: Content) -> Iterator[Content]:
        """`c` if it is a directory not met before, then those of its files (or `c`, a
        file) not met before; a directory met before is not walked again."""
        if c.is_dir:
            if not self.trees.first(c.hash):
                return
            yield c
        for f in self.run.files_in(c):
            if self.blobs.first(f.hash):
                yield f

    def counted(self, c: Content) -> Iterator[tuple[Content, int]]:
        """As `of`, each with its count of files, a directory's (repeats included) after
        them, taken on the same walk; a file's count is 1."""
        if not c.is_dir:
            if self.blobs.first(c.hash):
                yield c, 1
            return
        if not self.trees.first(c.hash):
            return
        count = 0
        for f in self.run.files_in(c):
            count += 1
            if self.blobs.first(f.hash):
                yield f, 1
        yield c, count


class Met:
    """The hashes met so far, as their 32 bytes (never two taken for one: a file left
    out would leave the crate naming an entity it lacks)."""

    def __init__(self) -> None:
        self.met: set[bytes] = set()

    def first(self, oid: str) -> bool:
        """True the first time `oid` is met, False after."""
        key = bytes.fromhex(oid)
        if key in self.met:
            return False
        self.met.add(key)
        return True


# ---- writing JSON-LD ------------------------------------------------------------------
GRAPH_INDENT = "\n" + " " * 8  # an entity's lines, inside the document's "@graph"
INDENT = " " * 4


def metadata_pieces(entities: Iterable[Entity]) -> Iterator[str]:
    """`ro-crate-metadata.json` in pieces, each entity written as it is made."""
    context = json.dumps(CONTEXT, indent=4, ensure_ascii=False).replace("\n", "\n    ")
    yield f'{{\n    "@context": {context},\n    "@graph": ['
    for n, entity in enumerate(entities):
        yield ("," if n else "") + GRAPH_INDENT
        yield from entity_pieces(entity, GRAPH_INDENT)
    yield "\n    ]\n}\n"


def entity_pieces(entity: Entity, newline: str) -> Iterator[str]:
    """One entity as indented JSON, its keys sorted. A value that is an iterator (of
    @ids) is written as it is read: none leaves the key out, one is written as its
    reference, more as an array of references, one a line."""
    inner = newline + INDENT
    first = True
    yield "{"
    for key in sorted(entity):
        value = entity[key]
        if isinstance(value, Iterator):
            head = next(value, None)
            if head is None:
                continue
            yield ("" if first else ",") + inner + json.dumps(key) + ": "
            yield from refs_pieces(head, value, inner)
        else:
            text = encode_basestring(value) if isinstance(value, str) else \
                json.dumps(value, indent=4, sort_keys=True, ensure_ascii=False)
            yield ("" if first else ",") + inner + json.dumps(key) + ": " + \
                text.replace("\n", inner)
        first = False
    yield newline + "}" if not first else "}"


def refs_pieces(head: str, rest: Iterator[str], newline: str) -> Iterator[str]:
    second = next(rest, None)
    if second is None:
        yield ref_text(head)
        return
    inner = newline + INDENT
    yield "[" + inner + ref_text(head) + "," + inner + ref_text(second)
    for entity_id in rest:
        yield "," + inner + ref_text(entity_id)
    yield newline + "]"


def ref_text(entity_id: str) -> str:
    """`{"@id": ...}` as json.dumps writes it (what most of a large crate's text is)."""
    return '{"@id": ' + encode_basestring(entity_id) + "}"


def ref(entity_id: str) -> dict:
    return {"@id": entity_id}


def entity(entity_id: str, kind: str | list[str], **props) -> Entity:
    """A node; None and [] values are left out, a one-item list is written as its item
    (RO-Crate's JSON-LD recommendation)."""
    kept = {k: one_or_many(v) for k, v in props.items()}
    return {"@id": entity_id, "@type": kind, **{k: v for k, v in kept.items() if v is not None}}


def refs(ids: Iterable[str]) -> list[dict]:
    return [ref(i) for i in ids]


def definition_text(run: RunStream) -> bytes:
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
    def of(cls, store: ObjectStore, run: RunStream) -> SourceDocument | None:
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


def cwl_language(version: str | None) -> Entity:
    """The Common Workflow Language as Workflow RO-Crate names it (as the `rocrate`
    library's `get_lang("cwl")` makes it)."""
    identifier = f"https://w3id.org/cwl/v{version.lstrip('v')}/" if version else \
        "https://w3id.org/cwl/"
    return entity(CWL_LANGUAGE, "ComputerLanguage", name="Common Workflow Language",
                  alternateName="CWL", identifier=ref(identifier),
                  url=ref("https://www.commonwl.org/"), version=version)


# ---- what the crate needs of the whole run ------------------------------------------
class Formals:
    """The FormalParameters a definition declares (its parameters, each task's inputs
    and output files), numbered: which of them a file filled is kept as bits."""

    def __init__(self, definition: Definition, tasks: list[str]) -> None:
        ids = [param_formal(name) for name in sorted(definition.params)]
        for task in tasks:
            spec = definition.tasks[task]
            ids += [formal_id(task, "in", name) for name in sorted(spec.inputs)]
            ids += [formal_id(task, "out", path) for path in spec.outputs.files]
        self.ids = list(dict.fromkeys(ids))
        self.number = {formal: n for n, formal in enumerate(self.ids)}

    def bit(self, formal: str) -> int:
        """`formal`'s bit, 0 for a slot the definition does not declare."""
        n = self.number.get(formal)
        return 0 if n is None else 1 << n

    def named(self, bits: int) -> list[str]:
        return [formal for n, formal in enumerate(self.ids) if bits >> n & 1]


@dataclass
class TaskActions:
    """A definition task's attempts (its instances' included), as its ControlAction
    tells them: counts, the first attempt's start, the last one's state and end, and the
    table rows holding them, as runs of rows [start, end) (one per block of instances)."""

    attempts: int = 0
    instances: int = 0
    started_at: str | None = None
    state: str = TaskStatus.PENDING
    ended_at: str | None = None
    spans: list[list[int]] = field(default_factory=list)

    def note(self, position: int, a: Attempt, base: str) -> None:
        if not self.spans or self.spans[-1][1] <= position:  # a row not met yet
            if a.task != base:
                self.instances += 1
            if self.spans and self.spans[-1][1] == position:
                self.spans[-1][1] = position + 1
            else:
                self.spans.append([position, position + 1])
        if self.attempts == 0:
            self.started_at = a.started_at
        self.attempts += 1
        self.state, self.ended_at = a.state, a.ended_at


class Survey:
    """What the crate needs of the whole run, gathered in one pass over its attempts:
    each definition task's `TaskActions`, which (task, path) slots held a directory,
    whether any attempt started a child run, and which declared slots each file or
    directory filled, by its hash (about 150 bytes a distinct file)."""

    def __init__(self, formals: Formals, tasks: list[str]) -> None:
        self.formals = formals
        self.tasks = {name: TaskActions() for name in tasks}
        self.dir_slots: set[tuple[str, str]] = set()
        self.slots: dict[bytes, int] = {}
        self.masks: dict[int, int] = {}  # each distinct set of bits once
        self.children = False  # whether an attempt started a child run

    def param(self, c: Content) -> None:
        self.filled(c, param_formal(c.path))

    def attempt(self, position: int, a: Attempt) -> None:
        base = base_task(a.task)
        self.children = self.children or a.child_run is not None
        actions = self.tasks.get(base)
        if actions is not None:
            actions.note(position, a, base)
        for c in a.inputs:
            self.filled(c, formal_id(base, "in", c.path.rsplit("/", 1)[-1]))
        for c in a.outputs:
            self.filled(c, formal_id(base, "out", c.path))
        self.dir_slots.update((base, c.path) for c in a.inputs + a.outputs if c.is_dir)

    def filled(self, c: Content, formal: str) -> None:
        bit = self.formals.bit(formal)
        if bit:
            key = bytes.fromhex(c.hash)
            mask = self.slots.get(key, 0) | bit
            self.slots[key] = self.masks.setdefault(mask, mask)

    def example_of(self, c: Content) -> list[dict]:
        """The declared slots `c` filled."""
        return refs(self.formals.named(self.slots.get(bytes.fromhex(c.hash), 0)))


# ---- the crate's entities -----------------------------------------------------------
class Crate:
    """One run's crate: its entities made as the run is read. `surveyed_contents` (the
    zip's pass over the files) must be read to its end before `entities`."""

    def __init__(self, store: ObjectStore, run: RunStream, files: bool,
                 source: SourceDocument | None) -> None:
        self.store, self.run, self.with_files, self.source = store, run, files, source
        self.sha256 = Sha256s(store, SHA256_KEPT)
        # a tool and a step per task of the definition: a fanned-out task's instances are
        # actions of its one tool (their names, TASK[KEY], are on the actions)
        self.tasks = run.head.task_order()
        self.survey = Survey(Formals(run.definition, self.tasks), self.tasks)
        self.person_id = "#user-" + quote(run.triggered_by, safe=":")
        self.workflow_id = source.path if source else DEFINITION_PATH

    def surveyed_contents(self) -> Iterator[Content]:
        """Every parameter, input and output content (repeats included), the survey
        taken on the way."""
        for c in self.run.param_contents:
            self.survey.param(c)
            yield c
        for position, a in self.run.attempts_at():
            self.survey.attempt(position, a)
            yield from a.inputs
            yield from a.outputs

    def data_id(self, c: Content) -> str:
        """A directory's folder; a file in the zip as `files/<blake3>`, or without files
        named by its content (an RFC 6920 `ni:` URI of its SHA-256): RO-Crate 1.1 wants
        a file not in the payload to have an absolute URI."""
        if c.is_dir:
            return f"trees/{c.hash}/"
        return f"files/{c.hash}" if self.with_files else ni_uri(self.sha256(c.hash))

    def entities(self) -> Iterator[Entity]:
        run = self.run
        yield entity(METADATA, "CreativeWork", about=ref("./"),
                     conformsTo=refs([CRATE_SPEC, WROC_PROFILE]))
        yield self.root()
        yield entity("#license-not-declared", "CreativeWork", name="No licence declared",
                     description="wfobj does not know the licence of this run's workflow "
                                 "and files; set one before publishing the crate")
        for uri, name in PROFILES.items():
            yield entity(uri, "CreativeWork", name=name, version=uri.rsplit("/", 1)[-1])
        yield entity(self.person_id, "Person", name=run.triggered_by)
        yield entity("#wfobj-engine", "SoftwareApplication", name="wfobj",
                     softwareVersion=run.engine_version)
        yield from self.workflow_entities()
        yield from self.action_entities()
        yield from self.control_entities()
        yield from self.run_entities()

    def root(self) -> Entity:
        run = self.run
        return entity(
            "./", "Dataset", name=f"wfobj run {run.run_id} of {run.workflow}",
            description=f"Provenance of run {run.run_id} of workflow {run.workflow} "
                        f"(definition {run.definition_hash}), state {run.state}",
            datePublished=crate_time(run.ended_at or run.created_at),
            license=ref("#license-not-declared"), conformsTo=refs(PROFILES),
            author=ref(self.person_id), mainEntity=ref(self.workflow_id),
            hasPart=self.root_parts(), mentions=self.mentions())

    def root_parts(self) -> Iterator[str]:
        yield self.workflow_id
        if self.source is not None:
            yield DEFINITION_PATH
        for c in distinct_data(self.run, self.run.contents()):
            yield self.data_id(c)

    def mentions(self) -> Iterator[str]:
        """The run's action and every other CreateAction: each attempt's (and each child
        run's, before its attempt; without child runs, from the task table alone)."""
        yield f"#run-{self.run.run_id}"
        if not self.survey.children:
            for row in self.run.rows():
                for link in row["attempts"]:
                    yield f"#attempt-{link.oid}"
            return
        for a in self.run.attempts():
            if a.child_run is not None:
                yield f"#run-{a.child_run}"
            yield f"#attempt-{a.evidence_hash}"

    # ---- the workflow, its tools and steps
    def workflow_entities(self) -> Iterator[Entity]:
        run, src = self.run, self.source
        formals = [self.formal(param_formal(name), name, spec.type,
                               defaultValue=text_of(spec.default))
                   for name, spec in sorted(run.definition.params.items())]
        tools = [self.tool(name) for name in self.tasks]
        steps = [entity(f"#step-{name}", "HowToStep", name=name, position=str(i),
                        workExample=ref(f"#tool-{name}"))
                 for i, name in enumerate(self.tasks)]
        slots = {"hasPart": refs(f"#tool-{name}" for name in self.tasks),
                 "step": refs(step["@id"] for step in steps),
                 "input": refs(f["@id"] for f in formals),
                 "output": [out for tool, _ in tools for out in as_list(tool.get("output"))]}
        if src is None:
            yield entity("#wfobj-definition", "ComputerLanguage",
                         name="wfobj workflow definition", alternateName="wfobj")
            yield entity(DEFINITION_PATH, WORKFLOW_TYPES, name=run.workflow,
                         identifier=run.definition_hash, version=run.definition_hash,
                         encodingFormat="application/json",
                         description=run.definition.description or None,
                         programmingLanguage=ref("#wfobj-definition"), **slots)
        else:
            language = cwl_language(src.version)
            yield language
            process = f" (process {src.process})" if src.process else ""
            yield entity(src.path, WORKFLOW_TYPES, name=src.process or src.path,
                         identifier=f"blake3:{src.hash}", contentSize=str(src.size),
                         description=f"the {language['name']} document run as wfobj "
                                     f"workflow {run.workflow}{process}",
                         programmingLanguage=ref(CWL_LANGUAGE), **slots)
            yield entity(DEFINITION_PATH, "File", name=f"wfobj definition of {run.workflow}",
                         identifier=run.definition_hash, encodingFormat="application/json",
                         isBasedOn=ref(src.path),
                         description=f"the wfobj definition {run.definition_hash} made "
                                     f"from {src.path}; its tasks are the steps of this crate")
        yield from formals
        for tool, its_formals in tools:
            yield from its_formals
            yield tool
        yield from steps

    def formal(self, formal: str, name: str, kind: str, **props) -> Entity:
        """A FormalParameter (Bioschemas): a declared input or output slot."""
        return entity(formal, "FormalParameter", name=name,
                      additionalType=PARAM_TYPES.get(kind, "Text"),
                      conformsTo=ref(FORMAL_PARAMETER_PROFILE), **props)

    def tool(self, task: str) -> tuple[Entity, list[Entity]]:
        """The task as a tool, with its declared inputs and output files as parameters
        (a slot some attempt filled with a directory is a Dataset)."""
        spec = self.run.definition.tasks[task]
        dirs = self.survey.dir_slots
        inputs = [self.formal(formal_id(task, "in", name), name,
                              "dir" if (task, f"/in/{name}") in dirs else "file")
                  for name in sorted(spec.inputs)]
        outputs = [self.formal(formal_id(task, "out", path), path,
                               "dir" if (task, path) in dirs else "file")
                   for path in spec.outputs.files]
        slots = {"input": refs(f["@id"] for f in inputs),
                 "output": refs(f["@id"] for f in outputs)}
        if spec.workflow is not None:  # a sub-workflow: the step's tool is a workflow
            tool = entity(f"#tool-{task}", ["SoftwareApplication", "ComputationalWorkflow"],
                          name=task, identifier=spec.workflow["hash"],
                          alternateName=spec.workflow["name"],
                          description=f"sub-workflow {spec.workflow['name']} "
                                      f"(definition {spec.workflow['hash']})", **slots)
        else:
            tool = entity(f"#tool-{task}", "SoftwareApplication", name=task, **slots)
        return tool, inputs + outputs

    # ---- files, directories and attempts
    def action_entities(self) -> Iterator[Entity]:
        """In one pass over the run: each directory and file it touched, once, naming the
        slots it filled, and each attempt's CreateAction, after the entities it is the
        first to name (its files, its image, the attempt a cache hit reused, its child
        run)."""
        data, images, evidence = Distinct(self.run), Met(), Met()
        for c in self.run.param_contents:
            yield from self.data_entities(data.counted(c))
        for a in self.run.attempts():
            for c in a.inputs + a.outputs:
                yield from self.data_entities(data.counted(c))
            if a.child_run is not None:
                yield entity(f"#run-{a.child_run}", "CreateAction",
                             name=f"child run {a.child_run}", identifier=a.child_run,
                             instrument=ref(f"#tool-{base_task(a.task)}"),
                             description=f"the run of the sub-workflow of task {a.task}")
                yield self.child_attempt(a)
                continue
            if images.first(a.image_facts_hash):
                yield image_entity(a)
            reused = None
            if a.cached_from:
                reused = self.reused(a.cached_from)
                if not reused.startswith("#attempt-") and evidence.first(a.cached_from):
                    yield entity(reused, "CreativeWork",
                                 name=f"task evidence {a.cached_from}",
                                 identifier=a.cached_from,
                                 description="the attempt whose outputs a cache hit reused")
            yield self.attempt(a, reused)

    def data_entities(self, counted: Iterable[tuple[Content, int]]) -> Iterator[Entity]:
        for c, count in counted:
            yield self.folder(c, count) if c.is_dir else self.file(c)

    def file(self, f: Content) -> Entity:
        sha256 = self.sha256(f.hash)
        return entity(f"files/{f.hash}" if self.with_files else ni_uri(sha256), "File",
                      name=f.path, contentSize=str(f.size),
                      identifier=f"blake3:{f.hash}", sha256=sha256,
                      encodingFormat=mimetypes.guess_type(f.path)[0]
                      or "application/octet-stream",
                      exampleOfWork=self.survey.example_of(f))

    def folder(self, tree: Content, count: int) -> Entity:
        """A directory of `count` files as a Dataset: the folder `trees/<tree hash>/`,
        `hasPart` its files (each once)."""
        return entity(self.data_id(tree), "Dataset", name=tree.path,
                      contentSize=str(tree.size), identifier=f"urn:wfobj:tree:{tree.hash}",
                      description=f"directory (tree {tree.hash}) of {count} file(s)",
                      exampleOfWork=self.survey.example_of(tree),
                      hasPart=self.parts_of(tree))

    def parts_of(self, tree: Content) -> Iterator[str]:
        met = Met()
        for f in self.run.files_in(tree):
            if met.first(f.hash):
                yield self.data_id(f)

    # ---- attempts and steps
    def attempt(self, a: Attempt, reused: str | None) -> Entity:
        return entity(
            f"#attempt-{a.evidence_hash}", "CreateAction",
            name=f"{a.task} attempt {a.number}", identifier=a.evidence_hash,
            instrument=ref(f"#tool-{base_task(a.task)}"),
            containerImage=ref(f"#image-{a.image_facts_hash}"), agent=ref(self.person_id),
            object=refs(self.data_id(c) for c in a.inputs),
            result=refs(self.data_id(c) for c in a.outputs),
            actionStatus=status(a.state), error=a.error, exitCode=a.exit_code,
            isBasedOn=ref(reused) if reused else None, description=attempt_description(a),
            **times(a.started_at, a.ended_at))

    def child_attempt(self, a: Attempt) -> Entity:
        """A sub-workflow task's attempt: the action running the child workflow, naming
        the child run (exported on its own, with `parent` pointing back here)."""
        return entity(
            f"#attempt-{a.evidence_hash}", "CreateAction",
            name=f"{a.task} attempt {a.number}", identifier=a.evidence_hash,
            instrument=ref(f"#tool-{base_task(a.task)}"), agent=ref(self.person_id),
            object=refs(self.data_id(c) for c in a.inputs),
            result=refs(self.data_id(c) for c in a.outputs),
            actionStatus=status(a.state), error=a.error, subjectOf=ref(f"#run-{a.child_run}"),
            description=f"sub-workflow task {a.task}: child run {a.child_run}, {a.state}",
            **times(a.started_at, a.ended_at))

    def reused(self, evidence_hash: str) -> str:
        """The attempt a cache hit reused: this crate's action for it if it is an
        attempt of this run, else an entity naming its evidence hash."""
        if evidence_hash in self.store:
            if read(self.store, evidence_hash, TaskEvidence).run_id == self.run.run_id:
                return f"#attempt-{evidence_hash}"
        return f"#evidence-{evidence_hash}"

    def control_entities(self) -> Iterator[Entity]:
        """A ControlAction per step that has attempts, listing them from the task table's
        rows (no evidence read)."""
        for task in self.tasks:
            actions = self.survey.tasks[task]
            if not actions.attempts:
                continue
            what = f"{actions.instances} instance(s), " if actions.instances else ""
            yield entity(f"#control-{task}", "ControlAction", name=f"orchestrate {task}",
                         description=f"the engine ran task {task}: {what}{actions.attempts} "
                                     f"attempt(s), the last {actions.state}",
                         instrument=ref(f"#step-{task}"), object=self.attempt_ids(actions),
                         actionStatus=status(actions.state),
                         **times(actions.started_at, actions.ended_at))

    def attempt_ids(self, actions: TaskActions) -> Iterator[str]:
        for start, end in actions.spans:
            for row in self.run.rows(start, end):
                for link in row["attempts"]:
                    yield f"#attempt-{link.oid}"

    # ---- the run
    def run_entities(self) -> Iterator[Entity]:
        run = self.run
        params = [entity(f"#param-{name}", "PropertyValue", name=name, value=text_of(value),
                         exampleOfWork=ref(param_formal(name))
                         if name in run.definition.params else None)
                  for name, value in sorted(run.parameters.items())
                  if param_type(run.definition.params, name) not in ("file", "dir")]
        yield from params
        run_action = f"#run-{run.run_id}"
        yield entity(
            run_action, "CreateAction", name=f"run {run.run_id} of {run.workflow}",
            identifier=run.run_id, instrument=ref(self.workflow_id), agent=ref(self.person_id),
            object=refs([*(self.data_id(c) for c in run.param_contents),
                         *(p["@id"] for p in params)]),
            result=(self.data_id(c) for _, c in run.outputs()),
            actionStatus=status(run.state),
            description=f"run {run.run_id} of workflow {run.workflow}: {run.state}",
            **times(run.started_at or run.created_at, run.ended_at))
        yield entity(f"#organize-{run.run_id}", "OrganizeAction",
                     name=f"wfobj ran {run.run_id}", instrument=ref("#wfobj-engine"),
                     description=f"the wfobj engine ran run {run.run_id}: {run.state}",
                     agent=ref(self.person_id),
                     object=refs(f"#control-{task}" for task in self.tasks
                                 if self.survey.tasks[task].attempts),
                     result=ref(run_action), actionStatus=status(run.state),
                     **times(run.started_at or run.created_at, run.ended_at))


def image_entity(a: Attempt) -> Entity:
    registry, name, tag = split_image(a.image)
    return entity(f"#image-{a.image_facts_hash}", "ContainerImage",
                  additionalType=ref(DOCKER_IMAGE), name=name, tag=tag, registry=registry,
                  alternateName=a.image, identifier=a.image_id,
                  sha256=(a.image_id or "").removeprefix("sha256:") or None)


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


def param_formal(name: str) -> str:
    return f"#formal-param-{name}"


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

"""RO-Crate: a zip holding a Workflow Run Crate that follows the Provenance Run Crate
profile, built with the `rocrate` library.

The workflow is its normalized definition (`workflow/definition.json`); each task is a
tool (SoftwareApplication) and a step (HowToStep); each task attempt is a CreateAction
(instrument: the tool, containerImage: the image by id, object: inputs, result: outputs,
agent: the user who triggered the run); a ControlAction per step groups its attempts; the
run is the workflow's CreateAction, and an OrganizeAction by the engine ties them together.
Files are `files/<blake3>`; with `files=False` they stay listed (ids, sizes, hashes) but
their bytes are left out of the zip.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from io import BytesIO
from pathlib import Path
from urllib.parse import quote

from rocrate.model.computerlanguage import ComputerLanguage
from rocrate.model.contextentity import ContextEntity
from rocrate.rocrate import ROCrate

from objstore import ObjectStore

from .model import Attempt, FileRef, RunExport, sha256_of_blob

WFRUN_VERSION = "0.5"
PROFILES = {
    f"https://w3id.org/ro/wfrun/process/{WFRUN_VERSION}": "Process Run Crate",
    f"https://w3id.org/ro/wfrun/workflow/{WFRUN_VERSION}": "Workflow Run Crate",
    f"https://w3id.org/ro/wfrun/provenance/{WFRUN_VERSION}": "Provenance Run Crate",
}  # the library adds the Workflow RO-Crate profile itself with the main workflow
WFRUN_CONTEXT = "https://w3id.org/ro/terms/workflow-run/context"
DOCKER_IMAGE = "https://w3id.org/ro/terms/workflow-run#DockerImage"
STATUS = {"success": "CompletedActionStatus", "failed": "FailedActionStatus",
          "killed": "FailedActionStatus", "running": "ActiveActionStatus",
          "pending": "PotentialActionStatus"}
DEFINITION_PATH = "workflow/definition.json"
FORMAL_PARAMETER_PROFILE = "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"
PARAM_TYPES = {"file": "File", "int": "Integer", "float": "Float", "bool": "Boolean",
               "string": "Text"}
WORKFLOW_TYPES = ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"]


def export_ro_crate(store: ObjectStore, run: RunExport, *, files: bool = True) -> bytes:
    """The crate as zip bytes; file contents streamed from the store (verified reads)."""
    with tempfile.TemporaryDirectory(prefix="wfobj-crate-") as tmp:
        crate = CrateBuilder(store, run, Path(tmp), files).build()
        with warnings.catch_warnings():
            # without files the library warns once per file it lists but does not hold
            warnings.filterwarnings("ignore", "No source for", UserWarning)
            return b"".join(crate.stream_zip())


class CrateBuilder:
    """Adds the entities of one run to a new crate."""

    def __init__(self, store: ObjectStore, run: RunExport, tmp: Path, files: bool) -> None:
        self.store, self.run, self.tmp, self.with_files = store, run, tmp, files
        self.crate = ROCrate()
        # an empty folder as the crate's source: the zip writer adds whatever lies there
        self.crate.source = tmp / "crate"
        self.crate.source.mkdir()

    def build(self) -> ROCrate:
        crate, run = self.crate, self.run
        crate.metadata.extra_contexts.append(WFRUN_CONTEXT)
        crate.name = f"wfobj run {run.run_id} of {run.workflow}"
        crate.description = (f"Provenance of run {run.run_id} of workflow {run.workflow} "
                             f"(definition {run.definition_hash}), state {run.state}")
        crate.datePublished = run.ended_at or run.created_at
        crate.root_dataset["conformsTo"] = [self.add_profile(uri, name)
                                            for uri, name in PROFILES.items()]
        self.person = self.entity("#user-" + quote(run.triggered_by, safe=":"), "Person",
                                  name=run.triggered_by)
        self.engine = self.entity("#wfobj-engine", "SoftwareApplication", name="wfobj",
                                  softwareVersion=run.engine_version)
        self.files = {oid: self.add_file(f) for oid, f in run.files().items()}
        self.workflow = self.add_workflow()
        self.link_examples()
        controls = [self.add_control(name) for name in run.task_order
                    if any(a.task == name for a in run.attempts)]
        run_action = self.add_run_action()
        crate.root_dataset["mentions"] = [run_action]
        self.entity(f"#organize-{run.run_id}", "OrganizeAction",
                    name=f"wfobj ran {run.run_id}", instrument=self.engine,
                    agent=self.person, object=controls, result=run_action,
                    **times(run.started_at or run.created_at, run.ended_at))
        return crate

    def entity(self, entity_id: str, kind: str | list[str], **props) -> ContextEntity:
        props = {k: v for k, v in props.items() if v is not None}
        return self.crate.add(ContextEntity(self.crate, entity_id,
                                            properties={"@type": kind, **props}))

    def add_profile(self, uri: str, name: str) -> ContextEntity:
        return self.entity(uri, "CreativeWork", name=name,
                           version=uri.rsplit("/", 1)[-1])

    def add_file(self, f: FileRef):
        props = {"name": f.path, "contentSize": str(f.size), "identifier": f"blake3:{f.hash}",
                 "sha256": sha256_of_blob(self.store, f.hash)}
        source = self.blob_file(f.hash) if self.with_files else None
        return self.crate.add_file(source, dest_path=f"files/{f.hash}", properties=props)

    def blob_file(self, oid: str) -> Path:
        path = self.tmp / oid
        with path.open("wb") as fh:
            for piece in self.store.iter_blob(oid):
                fh.write(piece)
        return path

    def add_workflow(self):
        run = self.run
        lang = self.crate.add(ComputerLanguage(self.crate, "#wfobj-definition", properties={
            "name": "wfobj workflow definition", "alternateName": "wfobj"}))
        text = json.dumps(run.definition, indent=2, sort_keys=True).encode()
        workflow = self.crate.add_workflow(
            BytesIO(text), dest_path=DEFINITION_PATH, main=True, lang=lang,
            properties={"@type": WORKFLOW_TYPES, "name": run.workflow,
                        "identifier": run.definition_hash, "encodingFormat": "application/json",
                        "description": run.definition.get("description") or None})
        params = run.definition["params"]
        self.param_formals = {name: self.formal(f"#formal-param-{name}", name, spec["type"],
                                                defaultValue=text_of(spec.get("default")))
                              for name, spec in sorted(params.items())}
        self.tools = {name: self.add_tool(name) for name in run.task_order}
        self.steps = {name: self.entity(f"#step-{name}", "HowToStep", name=name,
                                        position=str(i), workExample=self.tools[name])
                      for i, name in enumerate(run.task_order)}
        workflow["hasPart"] = list(self.tools.values())
        workflow["step"] = list(self.steps.values())
        workflow["input"] = list(self.param_formals.values())
        workflow["output"] = [out for tool in self.tools.values()
                              for out in as_list(tool.get("output"))]
        return workflow

    def formal(self, entity_id: str, name: str, kind: str, **props) -> ContextEntity:
        """A FormalParameter (Bioschemas): a declared input or output slot."""
        return self.entity(entity_id, "FormalParameter", name=name,
                           additionalType=PARAM_TYPES.get(kind, "Text"),
                           conformsTo={"@id": FORMAL_PARAMETER_PROFILE}, **props)

    def add_tool(self, task: str) -> ContextEntity:
        """The task as a tool, with its declared inputs and output files as parameters."""
        spec = self.run.definition["tasks"][task]
        inputs = [self.formal(formal_id(task, "in", name), name, "file")
                  for name in sorted(spec["inputs"])]
        outputs = [self.formal(formal_id(task, "out", path), path, "file")
                   for path in spec["outputs"]["files"]]
        return self.entity(f"#tool-{task}", "SoftwareApplication", name=task,
                           input=inputs or None, output=outputs or None)

    def link_examples(self) -> None:
        """Each file names the parameters it filled (`exampleOfWork`): a workflow
        parameter, a task's input, a task's declared output."""
        slots: dict[str, dict[str, ContextEntity]] = {}
        for f in self.run.param_files:
            slots.setdefault(f.hash, {})[f"p/{f.path}"] = self.param_formals[f.path]
        for a in self.run.attempts:
            for f in a.inputs:
                found = self.crate.dereference(formal_id(a.task, "in", f.path.rsplit("/", 1)[-1]))
                if found is not None:
                    slots.setdefault(f.hash, {})[found.id] = found
            for f in a.outputs:
                found = self.crate.dereference(formal_id(a.task, "out", f.path))
                if found is not None:
                    slots.setdefault(f.hash, {})[found.id] = found
        for oid, found in slots.items():
            self.files[oid]["exampleOfWork"] = list(found.values())

    def add_control(self, task: str) -> ContextEntity:
        actions = [self.add_attempt(a) for a in self.run.attempts if a.task == task]
        return self.entity(f"#control-{task}", "ControlAction", name=f"orchestrate {task}",
                           instrument=self.steps[task], object=actions)

    def add_attempt(self, a: Attempt) -> ContextEntity:
        image = self.entity(f"#image-{a.image_facts_hash}", "ContainerImage",
                            additionalType={"@id": DOCKER_IMAGE}, name=a.image,
                            identifier=a.image_id,
                            sha256=(a.image_id or "").removeprefix("sha256:") or None)
        reused = self.reused(a.cached_from) if a.cached_from else None
        return self.entity(
            f"#attempt-{a.evidence_hash}", "CreateAction",
            name=f"{a.task} attempt {a.number}", identifier=a.evidence_hash,
            instrument=self.tools[a.task], containerImage=image, agent=self.person,
            object=[self.files[f.hash] for f in a.inputs],
            result=[self.files[f.hash] for f in a.outputs],
            actionStatus={"@id": "http://schema.org/" + STATUS.get(a.state, "FailedActionStatus")},
            error=a.error, exitCode=a.exit_code, isBasedOn=reused,
            description=(f"cache hit: reused the outputs of attempt {a.cached_from}"
                         if a.cached_from else None),
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
                  if run.definition["params"].get(name, {}).get("type") != "file"]
        param_files = [self.files[f.hash] for f in run.param_files]
        return self.entity(
            f"#run-{run.run_id}", "CreateAction", name=f"run {run.run_id} of {run.workflow}",
            identifier=run.run_id, instrument=self.workflow, agent=self.person,
            object=param_files + params,
            result=[self.files[f.hash] for _, f in run.outputs()],
            actionStatus={"@id": "http://schema.org/" + STATUS[run.state]},
            **times(run.started_at or run.created_at, run.ended_at))


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
    return {"startTime": start, "endTime": end}

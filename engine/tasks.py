"""Turning a definition's task into the TaskSpec of one attempt: substitution and inputs."""

from __future__ import annotations

from objstore import ObjectStore

from .definition import REF_RE, render_value
from .executor import AttemptResult, InputFile, TaskSpec


class InputUnavailable(Exception):
    """A task input that an upstream task did not produce (reported as the attempt's error)."""


def substitute(text: str, run_id: str, params: dict, values: dict,
               results: dict[str, AttemptResult]) -> str:
    """Replace every {{params.X}}, {{tasks.T.vars.V}} and {{run.id}} in `text`."""
    def replace(match) -> str:
        parts = match.group(1).strip().split(".")
        if parts[0] == "params":
            return param_text(params[parts[1]]["type"], values[parts[1]])
        if parts[0] == "tasks":
            return results[parts[1]].vars[parts[3]]
        return run_id

    return REF_RE.sub(replace, text)


def param_text(ptype: str, value) -> str:
    if ptype == "bool":
        return "true" if value else "false"
    return str(render_value(ptype, value)) if ptype != "float" else value


def number(value) -> float | None:
    return None if value is None else float(value)


def build_spec(store: ObjectStore, run_id: str, name: str, attempt: int, definition: dict,
               values: dict, results: dict[str, AttemptResult]) -> tuple[TaskSpec, str | None]:
    """The spec of one attempt, and why it cannot start (an upstream file missing) or None."""
    task = definition["tasks"][name]
    params = definition["params"]

    def sub(text: str) -> str:
        return substitute(text, run_id, params, values, results) if "{{" in text else text

    inputs, problem = [], None
    for iname, ispec in task["inputs"].items():
        try:
            inputs.append(input_file(store, iname, ispec, values, results))
        except InputUnavailable as exc:
            problem = problem or str(exc)
    spec = TaskSpec(
        run_id=run_id, task=name, attempt=attempt, image=task["image"],
        command=[sub(item) for item in task["command"]],
        env={k: sub(v) for k, v in task["env"].items()},
        workdir=task["workdir"], network=task["network"],
        cpus=number(task["resources"].get("cpus")), memory=task["resources"].get("memory"),
        timeout=number(task["timeout"]),
        inputs=inputs,
        output_files=list(task["outputs"]["files"]), output_vars=list(task["outputs"]["vars"]),
        pids=task["resources"].get("pids"),
    )
    return spec, problem


def input_file(store: ObjectStore, name: str, spec: dict, values: dict,
               results: dict[str, AttemptResult]) -> InputFile:
    if "param" in spec:
        oid = values[spec["param"]]
        return InputFile(name, oid, store.size_of(oid))
    for out in results[spec["task"]].outputs:
        if out.path == spec["file"]:
            return InputFile(name, out.oid, out.size)
    raise InputUnavailable(f"input {name!r}: task {spec['task']!r} produced no file {spec['file']!r}")

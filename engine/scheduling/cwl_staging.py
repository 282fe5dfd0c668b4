"""How one CWL CommandLineTool job becomes one container attempt (docs/cwl.md): the
staging folder of everything the job reads, the shell script the task runs, and the
image and resources its requirements name.

cwltool builds the job (command line, environment, redirections, the path mapper that
says where each input goes); this module lays it out for the engine:

- everything the job reads (its inputs, InitialWorkDirRequirement entries, literal files)
  goes in one folder, stored as a tree and mounted read-only at /in/stage (cwltool's stage
  directory); what must sit in the output directory is copied there by the script;
- the script (in the staged tree, so the attempt records it by hash) changes to /out/o
  (`$(runtime.outdir)`, the task's one output directory), runs the command line with the
  job's environment and redirections, and writes the exit code as the var `rc`.

Used both by `wfobj cwl run` (cli/cwl_jobs.py, cwltool driving the workflow) and by
registered CWL workflows (engine/scheduling/cwl_steps.py, the engine driving it).
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cwltool.job import JobBase
    from cwltool.pathmapper import MapperEnt

CWL_STAGE_DIR = "/in/stage"        # the `stage` input's mount: cwltool's stage directory
CWL_OUT_NAME = "o"                 # the task's one declared output directory
CWL_OUT_DIR = f"/out/{CWL_OUT_NAME}"  # cwltool's output directory in the container
CWL_TMP_DIR = "/tmp"
CWL_SCRIPT = ".wfobj/run.sh"       # inside the staging tree
CWL_DEFAULT_IMAGE = "wfobj/toolbox:local"


@dataclass
class StagingPlan:
    """The staging folder of one job and what the script must copy out of it."""

    root: str
    copies: list[tuple[str, str]] = field(default_factory=list)  # (container src, target)
    # a host path -> (kind, hash, size, executable) when it is (inside) a store object: the
    # entry is staged by hash, no byte copied (registered CWL steps, cwl_steps.Files)
    stored: Callable[[str], tuple[str, str, int, bool] | None] | None = None
    grafts: list[tuple[str, tuple[str, str, int, bool]]] = field(default_factory=list)

    def place(self, target: str) -> tuple[str, str]:
        """(host path, container path) where an entry for `target` goes in the folder."""
        if target.startswith(CWL_STAGE_DIR + "/"):
            rel = target[len(CWL_STAGE_DIR) + 1:]
            return os.path.join(self.root, rel), target
        rel = f".wfobj/copy/{len(self.copies)}/{os.path.basename(target.rstrip('/')) or 'x'}"
        src = f"{CWL_STAGE_DIR}/{rel}"
        self.copies.append((src, target))
        return os.path.join(self.root, rel), src

    def add(self, vol: MapperEnt) -> None:
        host, _ = self.place(vol.target)
        os.makedirs(os.path.dirname(host), exist_ok=True)
        known = None
        if self.stored is not None and vol.type not in ("CreateFile", "CreateWritableFile") \
                and not vol.resolved.startswith("_:"):
            known = self.stored(vol.resolved)
        if known is not None:  # in the store: staged by hash (stage_tree)
            self.grafts.append((os.path.relpath(host, self.root), known))
        elif vol.type in ("CreateFile", "CreateWritableFile"):
            with open(host, "w", encoding="utf-8") as f:
                f.write(vol.resolved)
        elif vol.resolved.startswith("_:"):  # a Directory literal: an empty folder
            os.makedirs(host, exist_ok=True)
        elif os.path.isdir(vol.resolved):
            shutil.copytree(vol.resolved, host, dirs_exist_ok=True, symlinks=False,
                            copy_function=link_or_copy)
        else:
            link_or_copy(vol.resolved, host)


def link_or_copy(src: str, dst: str) -> None:
    """A hard link to `src` (no byte copied; the staged tree is read from it once), or a
    copy with its mode where a link cannot be made (another file system)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def job_script(job: JobBase, copies: list[tuple[str, str]]) -> str:
    """The shell script the task runs (see the module docstring). The tool's output
    directory is /out/o, or DockerRequirement's dockerOutputDirectory, copied to /out/o
    after the tool."""
    q = shlex.quote
    outdir = job.builder.outdir
    lines = ["mkdir -p " + q(outdir) + " || exit 1"]
    for src, target in copies:
        lines.append(f"mkdir -p {q(os.path.dirname(target))} && cp -R {q(src)} {q(target)}"
                     f" && chmod -R u+w {q(target)} || exit 1")
    lines.append("cd " + q(outdir) + " || exit 1")
    for name, value in sorted(job.environment.items()):
        lines.append(f"export {name}={q(str(value))}")
    command = " ".join(q(str(a)) for a in job.command_line)
    if job.stdin:
        command += " < " + q(job.stdin)
    for fd, name in ((">", job.stdout), ("2>", job.stderr)):
        if name:
            target = os.path.join(outdir, name)
            lines.append("mkdir -p " + q(os.path.dirname(target)))
            command += f" {fd} {q(target)}"
    lines += [command, "wfobj_rc=$?", *symlink_lines(outdir)]
    if outdir != CWL_OUT_DIR:
        lines.append(f"mkdir -p {q(CWL_OUT_DIR)} && cp -R {q(outdir)}/. {q(CWL_OUT_DIR)}/ "
                     "|| exit 1")
    lines += ['echo "rc=$wfobj_rc" >> "$WFOBJ_VARS"', "exit 0"]
    return "\n".join(lines) + "\n"


def symlink_lines(outdir: str) -> list[str]:
    """Script lines for after the tool: the engine stores no symbolic link (it never
    follows one), so each link in the output directory that resolves inside it becomes a
    copy of what it names (CWL: "the executor should resolve this symlink"), and one that
    resolves outside it, or nowhere, is removed (what it names is not the tool's output).
    Repeated while links remain (a copied folder may hold links), at most 8 times."""
    top = shlex.quote(outdir)
    return [
        f"wfobj_top=$(cd {top} && pwd -P); wfobj_pass=0",
        'while [ "$wfobj_pass" -lt 8 ] && [ -n "$(find "$wfobj_top" -type l | head -n 1)" ]; do',
        "  wfobj_pass=$((wfobj_pass + 1))",
        '  find "$wfobj_top" -type l | while IFS= read -r wfobj_link; do',
        '    wfobj_to=$(readlink -f "$wfobj_link"); rm -f "$wfobj_link"',
        '    case "$wfobj_to" in "$wfobj_top"/*) [ -e "$wfobj_to" ] && '
        'cp -R "$wfobj_to" "$wfobj_link";; esac',
        "  done",
        "done",
    ]


def image_of(job: JobBase, default: str = CWL_DEFAULT_IMAGE) -> str:
    """DockerRequirement → the task's image: dockerPull, else dockerImageId; `default`
    without one. Building or loading an image (dockerFile, dockerLoad, dockerImport) is
    not supported (cwltool's UnsupportedRequirement)."""
    from cwltool.errors import UnsupportedRequirement

    req, _ = job.get_requirement("DockerRequirement")
    if req is None:
        return default
    if req.get("dockerPull"):
        return str(req["dockerPull"])
    for key in ("dockerFile", "dockerLoad", "dockerImport"):
        if req.get(key):
            raise UnsupportedRequirement(f"DockerRequirement.{key}: wfobj runs images, it "
                                         "does not build or load them")
    if req.get("dockerImageId"):
        return str(req["dockerImageId"])
    raise UnsupportedRequirement("DockerRequirement names no image (dockerPull or "
                                 "dockerImageId)")


def resources_of(job: JobBase) -> dict:
    """ResourceRequirement → the task's resources (only when the tool declares one)."""
    req, _ = job.get_requirement("ResourceRequirement")
    if req is None:
        return {}
    res = job.builder.resources
    out: dict[str, Any] = {}
    if res.get("cores"):
        out["cpus"] = float(res["cores"])
    if res.get("ram"):
        out["memory"] = f"{max(int(res['ram']), 16)}m"
    return out

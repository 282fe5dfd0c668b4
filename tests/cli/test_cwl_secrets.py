"""cwltool's `secrets` hint through `wfobj cwl run` (docs/cwl.md, docs/secrets.md): a
secret input reaches the tool, on its command line and in its environment, as an engine
secret, and its value is never stored (every byte of the store folder, LMDB included, is
searched), logged, echoed in the output object, or left behind in the secret store. Real
LMDB store, real Docker (wfobj/toolbox:local), the real `wfobj` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.cli.test_cwl import write

VALUE = "hunter2-Correct-Horse-91"

SECRET_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
$namespaces: {cwltool: "http://commonwl.org/cwltool#"}
doc: use a password without showing it (only its length and a masked echo)
hints:
  cwltool:Secrets: {secrets: [password]}
requirements:
  EnvVarRequirement: {envDef: {PASSWORD_ENV: $(inputs.password)}}
baseCommand: [sh, -c]
arguments:
  - 'printf %s "$1" | wc -c > arg-length.txt; printf %s "$PASSWORD_ENV" | wc -c > env-length.txt; [ "$1" = "$PASSWORD_ENV" ] && echo same > same.txt; echo "told: $1" >&2'
  - tool
inputs:
  password: {type: string, inputBinding: {position: 1}}
  label: {type: string, default: plain}
outputs:
  arg_length: {type: File, outputBinding: {glob: arg-length.txt}}
  env_length: {type: File, outputBinding: {glob: env-length.txt}}
  same: {type: File, outputBinding: {glob: same.txt}}
"""

IN_A_FILE_TOOL = """\
cwlVersion: v1.2
class: CommandLineTool
$namespaces: {cwltool: "http://commonwl.org/cwltool#"}
hints:
  cwltool:Secrets: {secrets: [password]}
requirements:
  InitialWorkDirRequirement:
    listing: [{entryname: pw.txt, entry: $(inputs.password)}]
baseCommand: [cat, pw.txt]
inputs:
  password: string
outputs: []
"""


def wfobj(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFOBJ_")}
    return subprocess.run([sys.executable, "-c", "from wfobj.cli.main import main; main()",
                           *args], capture_output=True, cwd=cwd, env=env, timeout=300)


def store_bytes(store: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file())


@pytest.mark.docker
def test_a_secret_input_reaches_the_tool_and_is_never_stored_or_shown(tmp_path, docker_client):
    store = tmp_path / "store"
    assert wfobj("--store", str(store), "init", cwd=tmp_path).returncode == 0
    tool = write(tmp_path, "secret.cwl", SECRET_TOOL)
    job = write(tmp_path, "job.json", json.dumps({"password": VALUE}))

    done = wfobj("--store", str(store), "cwl", "run", "--outdir", str(tmp_path / "out"),
                 str(tool), str(job), cwd=tmp_path)

    assert done.returncode == 0, done.stderr.decode()
    out = json.loads(done.stdout)
    read = {k: Path(urlparse(out[k]["location"]).path).read_text().strip() for k in out}
    assert read == {"arg_length": str(len(VALUE)), "env_length": str(len(VALUE)),
                    "same": "same"}
    secret = VALUE.encode()
    assert secret not in done.stdout and secret not in done.stderr
    assert secret not in store_bytes(store)  # LMDB, secrets.enc (sealed), keys, all of it
    listed = wfobj("--store", str(store), "--json", "secret", "list", cwd=tmp_path)
    assert json.loads(listed.stdout) == []  # set for the run, removed after it

    runs = json.loads(wfobj("--store", str(store), "--json", "run", "list",
                            cwd=tmp_path).stdout)["runs"]
    (run,) = runs
    task = json.loads(wfobj("--store", str(store), "--json", "run", "task", run["run_id"],
                            "tool", cwd=tmp_path).stdout)
    (row,) = task["secrets"]
    assert row["name"].startswith("cwl-") and row["env"] == "WFOBJ_CWL_SECRET_0"
    assert task["stderr"]["text"].strip() == "told: ***"
    logs = wfobj("--store", str(store), "run", "logs", run["run_id"], "tool", cwd=tmp_path)
    assert secret not in logs.stdout + logs.stderr


@pytest.mark.docker
def test_a_secret_in_a_staged_file_is_unsupported_and_not_stored(tmp_path, docker_client):
    store = tmp_path / "store"
    assert wfobj("--store", str(store), "init", cwd=tmp_path).returncode == 0
    tool = write(tmp_path, "file.cwl", IN_A_FILE_TOOL)
    job = write(tmp_path, "job.json", json.dumps({"password": VALUE}))

    done = wfobj("--store", str(store), "cwl", "run", "--outdir", str(tmp_path / "out"),
                 str(tool), str(job), cwd=tmp_path)

    assert done.returncode == 33, done.stderr.decode()
    assert b"secret in the contents of" in done.stderr
    assert VALUE.encode() not in done.stdout + done.stderr + store_bytes(store)

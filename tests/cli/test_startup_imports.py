"""`wfobj` imports only what a command uses (issue "fast start"): `--help` and `--version`
load none of the heavy libraries nor the engine's service or exports, `cat` on a local
store (of a blob, or of a file in a tree) the object store but no HTTP client, Docker,
templates or engine service.

Checked on `sys.modules` of a fresh interpreter that runs one command through click's
CliRunner. No timings here: bench/startup.py measures them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from wfobj.cli.main import cli

# run one command in a fresh interpreter; print its exit code, output and loaded modules
PROBE = """
import json, sys
from click.testing import CliRunner
from wfobj.cli.main import cli
result = CliRunner().invoke(cli, sys.argv[1:])
print(json.dumps({"exit_code": result.exit_code, "output": result.output,
                  "modules": sorted(sys.modules)}))
"""

HEAVY = ("requests", "docker", "jinja2", "yaml", "cryptography", "wfobj.engine.service",
         "wfobj.engine.provenance.exports")


def probe(tmp_path, *args: str) -> dict:
    """`wfobj ARGS` in a fresh interpreter, with no config file or WFOBJ_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFOBJ_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "no-config")
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    """The modules of `names` (or inside them) among `modules`."""
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_load_nothing_heavy(tmp_path, args):
    result = probe(tmp_path, *args)
    assert result["exit_code"] == 0, result["output"]
    assert loaded(result["modules"], (*HEAVY, "lmdb")) == []


def test_cat_of_a_local_store_loads_the_store_only(tmp_path):
    store = str(tmp_path / "store")
    (tmp_path / "hello.txt").write_bytes(b"hello, store\n")
    runner = CliRunner()
    assert runner.invoke(cli, ["--store", store, "init"]).exit_code == 0
    put = runner.invoke(cli, ["--store", store, "put", str(tmp_path / "hello.txt")])
    assert put.exit_code == 0, put.output

    result = probe(tmp_path, "--store", store, "cat", put.output.strip())
    assert result["exit_code"] == 0, result["output"]
    assert result["output"] == "hello, store\n"
    assert "lmdb" in result["modules"]  # the command did open the store
    assert loaded(result["modules"], HEAVY) == []


def test_cat_of_a_file_in_a_tree_loads_the_store_only(tmp_path):
    store = str(tmp_path / "store")
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "hello.txt").write_bytes(b"hello, tree\n")
    runner = CliRunner()
    assert runner.invoke(cli, ["--store", store, "init"]).exit_code == 0
    put = runner.invoke(cli, ["--store", store, "put", str(tmp_path / "d")])
    assert put.exit_code == 0, put.output

    result = probe(tmp_path, "--store", store, "cat", f"{put.output.strip()}:sub/hello.txt")
    assert result["exit_code"] == 0, result["output"]
    assert result["output"] == "hello, tree\n"
    assert loaded(result["modules"], HEAVY) == []

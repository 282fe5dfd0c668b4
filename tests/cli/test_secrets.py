"""`wfobj secret set|list|rm` on a local store: the value comes from standard input or a
file, never from the command line, and is never printed."""

from __future__ import annotations

import json

from click.testing import CliRunner

from wfobj.cli.context import CliContext
from wfobj.cli.main import cli
from wfobj.engine import SecretStore
from wfobj.objstore import init_store

VALUE = "correct-horse-battery-staple"


def wfobj(store, *args: str, input: str | bytes | None = None):
    return CliRunner().invoke(cli, ["--store", str(store), *args], obj=CliContext(),
                              input=input)


def test_set_from_stdin_and_file_list_and_remove(tmp_path):
    store = tmp_path / "store"
    init_store(store).close()
    out = wfobj(store, "secret", "set", "horse", input=VALUE + "\n")
    assert out.exit_code == 0, out.output
    assert out.output.startswith("secret horse set (fingerprint ") and VALUE not in out.output
    assert SecretStore(store).value("horse") == VALUE.encode()  # the newline dropped
    key = tmp_path / "key.bin"
    key.write_bytes(b"\x00binary\n")
    assert wfobj(store, "secret", "set", "key", "--from-file", str(key)).exit_code == 0
    assert SecretStore(store).value("key") == b"\x00binary\n"  # a file's bytes, as they are
    listed = wfobj(store, "secret", "list", "--json")
    rows = json.loads(listed.output)
    assert [r["name"] for r in rows] == ["horse", "key"]
    assert set(rows[0]) == {"name", "fingerprint", "set_by", "set_at"}
    assert rows[0]["set_by"].startswith("local:")
    human = wfobj(store, "secret", "list")
    assert "horse" in human.output and rows[0]["fingerprint"][:16] in human.output
    assert VALUE not in listed.output + human.output
    gone = wfobj(store, "secret", "rm", "horse")
    assert gone.exit_code == 0 and gone.output == "secret horse removed\n"
    missing = wfobj(store, "secret", "rm", "horse")
    assert missing.exit_code == 1
    assert "no secret 'horse'" in missing.output and len(missing.output.splitlines()) == 1


def test_a_value_on_the_command_line_is_refused(tmp_path):
    store = tmp_path / "store"
    init_store(store).close()
    out = wfobj(store, "secret", "set", "horse", VALUE)
    assert out.exit_code == 2 and "Got unexpected extra argument" in out.output
    assert SecretStore(store).list() == []


def test_bad_input_is_one_line(tmp_path):
    store = tmp_path / "store"
    init_store(store).close()
    empty = wfobj(store, "secret", "set", "horse", input="")
    assert empty.exit_code == 1 and "invalid value: is empty" in empty.output
    bad = wfobj(store, "secret", "set", "no/slash", input=VALUE)
    assert bad.exit_code == 1 and "is not a secret name" in bad.output
    nofile = wfobj(store, "secret", "set", "x", "--from-file", str(tmp_path / "none"))
    assert nofile.exit_code == 1 and "cannot read" in nofile.output
    for out in (empty, bad, nofile):
        assert len(out.output.strip().splitlines()) == 1


def test_compare_and_explain_name_the_secret_not_its_value(tmp_path):
    from tests.support_engine import run_with, task
    from wfobj.engine.service import WorkflowService
    from wfobj.objstore import open_store

    path = tmp_path / "store"
    init_store(path).close()
    assert wfobj(path, "secret", "set", "horse", input=VALUE).exit_code == 0
    store = open_store(path)
    try:
        svc = WorkflowService(store)
        svc.apply_workflow("wf", {"tasks": {"t": task("true", secrets={
            "HORSE": {"secret": "horse"}})}}, user="alice")
        runs = []
        for value in (None, b"another-horse-value"):
            if value:
                svc.set_secret("horse", value, user="alice")
            runs.append(svc.trigger(name="wf", parameters={}, user="alice")["run_id"])
            run_with(store, runs[-1])
    finally:
        store.close()
    compared = wfobj(path, "run", "compare", *runs)
    assert compared.exit_code == 0, compared.output
    assert "secret horse: different value" in compared.output
    explained = wfobj(path, "run", "explain", runs[1], "t")
    assert explained.exit_code == 0, explained.output
    assert any(line.split()[0] == "secret.horse" and " was " in line and " now " in line
               for line in explained.output.splitlines() if line.strip())
    assert VALUE not in compared.output + explained.output

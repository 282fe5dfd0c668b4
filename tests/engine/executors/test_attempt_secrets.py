"""The Slurm path's secrets: a node (`wfobj exec`) gets the values of its attempt's
secrets over its attempt token only (POST /api/attempts/{spec}/secrets), holds them in
memory, and neither the attempt spec, the node's store nor the report holds one. A real
`wfobj serve`, a real node process and real Docker."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from tests.engine.executors.test_attempt_exec import bearer, exec_attempt, served  # noqa: F401
from tests.support_api import make_api
from wfobj.engine import SecretStore
from wfobj.engine.executors.attempts import AttemptTokens, load_report, spec_object
from wfobj.engine.executors.base import SecretUse, TaskSpec
from wfobj.engine.executors.caps import DEFAULT_LIMITS
from wfobj.objstore import open_store

VALUE = b"node-secret-7a6b5c4d3e2f"
RUN_ID = "01a2376e-0000-7000-8000-0000000000aa"


def secret_spec(store, secrets: SecretStore, attempt: int = 1):
    fingerprint = secrets.fingerprint("tok")
    spec = TaskSpec(run_id=RUN_ID, task="use", attempt=attempt, image="wfobj/toolbox:local",
                    command=["sh", "-c", 'echo "env $TOKEN"; echo "file $(cat /run/secrets/t)"'],
                    env={}, workdir=None, network=False, cpus=None, memory=None, timeout=60.0,
                    inputs=[], output_files=[], output_vars=[],
                    secrets=(SecretUse("tok", "TOKEN", fingerprint),
                             SecretUse("tok", "/run/secrets/t", fingerprint)))
    return store.put_object(spec_object(spec, DEFAULT_LIMITS).to_value()), spec


def every_byte(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_the_endpoint_answers_the_attempts_token_only(lmdb_store):
    api = make_api(lmdb_store)
    secrets = SecretStore(lmdb_store.path)
    secrets.set("tok", VALUE, "root")
    spec_oid, spec = secret_spec(lmdb_store, secrets)
    assert VALUE not in json.dumps(lmdb_store.get_object(spec_oid), default=str).encode()
    token, grant = AttemptTokens(lmdb_store).create(spec_oid, spec, ttl=60)
    url = f"/api/attempts/{spec_oid}/secrets"
    ok = api.client.simulate_post(url, headers=bearer(token))
    assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
    assert ok.json == {"secrets": {"tok": base64.b64encode(VALUE).decode()}}
    assert api.client.simulate_post(url, headers=api.h("admin")).status_code == 403
    assert api.client.simulate_post(url).status_code == 401
    other_oid, other = secret_spec(lmdb_store, secrets, attempt=2)
    assert api.client.simulate_post(f"/api/attempts/{other_oid}/secrets",
                                    headers=bearer(token)).status_code == 403
    secrets.set("tok", b"a-newer-value-000", "root")
    changed = api.client.simulate_post(url, headers=bearer(token))
    assert changed.json["unavailable"]["name"] == "tok"
    assert changed.json["unavailable"]["reason"].startswith("was set to a new value")
    AttemptTokens(lmdb_store).end(grant)
    assert api.client.simulate_post(url, headers=bearer(token)).status_code == 403


@pytest.mark.docker
def test_exec_gets_the_values_over_its_token_and_keeps_none(tmp_path, served,  # noqa: F811
                                                           docker_client):
    before = {n for n in os.listdir("/dev/shm") if n.startswith("wfobj-secrets-")}
    store = open_store(served.store_path)
    try:
        secrets = SecretStore(served.store_path)
        secrets.set("tok", VALUE, "root")
        spec_oid, spec = secret_spec(store, secrets)
        token, _ = AttemptTokens(store).create(spec_oid, spec, ttl=120)
        removed_oid, removed = secret_spec(store, secrets, attempt=2)
        token2, _ = AttemptTokens(store).create(removed_oid, removed, ttl=120)
    finally:
        store.close()
    done = exec_attempt(tmp_path, served, token, spec_oid)
    assert done.returncode == 0, done.stderr
    assert VALUE.decode() not in done.stdout + done.stderr
    store = open_store(served.store_path)
    try:
        _, result = load_report(store, json.loads(done.stdout)["report"])
        assert result.state == "success", result.error
        assert b"".join(store.iter_blob(result.stdout.oid)) == b"env ***\nfile ***\n"
    finally:
        store.close()
    assert VALUE not in every_byte(tmp_path / "node")  # the node's store: LMDB and all
    assert {n for n in os.listdir("/dev/shm") if n.startswith("wfobj-secrets-")} == before
    secrets.remove("tok")
    failed = exec_attempt(tmp_path, served, token2, removed_oid)
    assert failed.returncode == 0, failed.stderr
    store = open_store(served.store_path)
    try:
        _, result = load_report(store, json.loads(failed.stdout)["report"])
        assert result.state == "failed" and result.exit_code is None
        assert result.error.startswith("secret 'tok': is not in this server's secret store")
    finally:
        store.close()
    served.stop()
    assert VALUE not in every_byte(served.store_path)
    assert VALUE not in served.log_path.read_bytes()

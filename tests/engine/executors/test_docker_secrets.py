"""Secrets in real Docker containers: placed as an environment variable and as a
read-only file on a tmpfs, masked in the stored and the live streams and in vars, the
host's copy of a file gone when the attempt ends, and refusals that fail the attempt
naming the secret. Real Docker, real LMDB store, the real secret store beside it."""

from __future__ import annotations

import os
import threading
import time
import uuid

import pytest

from wfobj.engine import SecretStore
from wfobj.engine.executors.base import SecretUse, TaskSpec
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.executors.secret_values import GivenSecrets
from wfobj.engine.executors.spools import live_paths

pytestmark = pytest.mark.docker

VALUE = b"tok-9f8e7d6c5b4a-secret"


def spec(script: str, uses: tuple[SecretUse, ...], **extra) -> TaskSpec:
    return TaskSpec(run_id=str(uuid.uuid4()), task="use", attempt=1,
                    image="wfobj/toolbox:local", command=["sh", "-c", script], env={},
                    workdir=None, network=False, cpus=None, memory=None, timeout=60,
                    inputs=[], output_files=[], output_vars=extra.pop("output_vars", []),
                    secrets=uses, **extra)


def read(store, oid: str) -> bytes:
    return b"".join(store.iter_blob(oid))


@pytest.fixture
def secrets(lmdb_store):
    store = SecretStore(lmdb_store.path)
    store.set("tok", VALUE, "root")
    return store


def uses(secrets: SecretStore, *places: str) -> tuple[SecretUse, ...]:
    return tuple(SecretUse("tok", place, secrets.fingerprint("tok")) for place in places)


def shm_folders() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("wfobj-secrets-")}


def test_env_and_file_reach_the_task_and_its_streams_and_vars_are_masked(
        docker_client, lmdb_store, secrets, tmp_path):
    before = shm_folders()
    script = ('test "$TOKEN" = "$(cat /run/secrets/tok)" || exit 9; '
              'echo "env=$TOKEN"; cat /run/secrets/tok >&2; echo >&2; '
              'echo "v=$TOKEN" >> $WFOBJ_VARS; '
              'stat -f -c %T /run/secrets; ls -l /run/secrets; '
              'touch /run/secrets/x 2>/dev/null && echo writable || echo read-only')
    s = spec(script, uses(secrets, "TOKEN", "/run/secrets/tok"), output_vars=["v"])
    result = DockerExecutor(docker_client, work_root=str(tmp_path)).run(
        s, lmdb_store, threading.Event())
    assert result.state == "success", result.error
    out = read(lmdb_store, result.stdout.oid)
    assert out.startswith(b"env=***\n")
    assert b"tmpfs" in out and b"-r--r--r--" in out and b"read-only" in out
    assert read(lmdb_store, result.stderr.oid) == b"***\n"
    assert result.stdout.text.startswith("env=***") and VALUE.decode() not in result.stdout.text
    assert result.vars == {"v": "***"}
    assert shm_folders() == before  # the file's folder is gone with the attempt


def test_a_value_split_across_writes_is_masked(docker_client, lmdb_store, secrets, tmp_path):
    half = len(VALUE) // 2
    script = (f"printf %s '{VALUE[:half].decode()}'; sleep 1; "
              f"printf '%s\\n' '{VALUE[half:].decode()}'")
    result = DockerExecutor(docker_client, work_root=str(tmp_path)).run(
        spec(script, uses(secrets, "TOKEN")), lmdb_store, threading.Event())
    assert result.state == "success"
    assert read(lmdb_store, result.stdout.oid) == b"***\n"


def test_the_live_spool_is_masked_while_the_task_runs(docker_client, lmdb_store, secrets,
                                                      tmp_path):
    s = spec('echo "a $TOKEN b"; sleep 4; echo done', uses(secrets, "TOKEN"))
    paths = live_paths(lmdb_store, s.run_id, s.task, s.attempt)
    results = []
    worker = threading.Thread(target=lambda: results.append(DockerExecutor(
        docker_client, work_root=str(tmp_path)).run(s, lmdb_store, threading.Event())))
    worker.start()
    deadline = time.monotonic() + 60
    while not (paths["stdout"].exists() and paths["stdout"].read_bytes().startswith(b"a ***")):
        assert time.monotonic() < deadline, "the masked line never reached the spool"
        time.sleep(0.05)
    assert VALUE not in paths["stdout"].read_bytes()
    worker.join(60)
    assert read(lmdb_store, results[0].stdout.oid) == b"a *** b\ndone\n"


def test_a_failing_task_is_masked_too(docker_client, lmdb_store, secrets, tmp_path):
    result = DockerExecutor(docker_client, work_root=str(tmp_path)).run(
        spec('echo "oops $TOKEN" >&2; exit 3', uses(secrets, "TOKEN")), lmdb_store,
        threading.Event())
    assert result.state == "failed" and result.exit_code == 3
    assert read(lmdb_store, result.stderr.oid) == b"oops ***\n"


def test_a_removed_or_changed_secret_fails_the_attempt_unstarted(docker_client, lmdb_store,
                                                                 secrets, tmp_path):
    ex = DockerExecutor(docker_client, work_root=str(tmp_path))
    placed = uses(secrets, "TOKEN")
    secrets.set("tok", b"rotated-value-1234", "root")
    changed = ex.run(spec("echo ran", placed), lmdb_store, threading.Event())
    assert changed.state == "failed" and changed.exit_code is None
    assert changed.error.startswith("secret 'tok': was set to a new value after this attempt")
    secrets.remove("tok")
    gone = ex.run(spec("echo ran", placed), lmdb_store, threading.Event())
    assert gone.error.startswith("secret 'tok': is not in this server's secret store")
    assert read(lmdb_store, gone.stdout.oid) == b""


def test_a_binary_value_goes_in_a_file_not_the_environment(docker_client, lmdb_store,
                                                           secrets, tmp_path):
    secrets.set("bin", b"\xff\x00\x01binary-key", "root")
    fingerprint = secrets.fingerprint("bin")
    ex = DockerExecutor(docker_client, work_root=str(tmp_path))
    as_env = ex.run(spec("true", (SecretUse("bin", "KEY", fingerprint),)), lmdb_store,
                    threading.Event())
    assert as_env.error == ("secret 'bin': is not UTF-8 text without NUL bytes, so it cannot "
                            "be an environment variable: place it as a file")
    as_file = ex.run(spec("od -An -tx1 /run/secrets/key",
                          (SecretUse("bin", "/run/secrets/key", fingerprint),)),
                     lmdb_store, threading.Event())
    assert as_file.state == "success"
    assert read(lmdb_store, as_file.stdout.oid).split() == [
        b"ff", b"00", b"01", *(b"%02x" % c for c in b"binary-key")]


def test_given_values_are_used_as_a_node_does(docker_client, lmdb_store, tmp_path):
    """A node's executor reads no secret store: the values it was handed over."""
    ex = DockerExecutor(docker_client, work_root=str(tmp_path))
    ex.secret_source = GivenSecrets({"tok": VALUE})
    result = ex.run(spec('echo "$TOKEN"', (SecretUse("tok", "TOKEN", "f" * 64),)),
                    lmdb_store, threading.Event())
    assert result.state == "success"
    assert read(lmdb_store, result.stdout.oid) == b"***\n"


def test_file_placement_refuses_a_folder_that_is_not_a_tmpfs(docker_client, lmdb_store,
                                                             secrets, tmp_path):
    ex = DockerExecutor(docker_client, work_root=str(tmp_path), secrets_root=str(tmp_path))
    result = ex.run(spec("true", uses(secrets, "/run/secrets/tok")), lmdb_store,
                    threading.Event())
    assert result.state == "failed"
    assert result.error == (f"secret 'tok': its file needs a tmpfs and {tmp_path} is not one "
                            "(docs/secrets.md)")

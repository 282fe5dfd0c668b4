"""The Docker executor against a real daemon, plus its safe output collection without one."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import uuid
from datetime import UTC

import blake3
import pytest

from wfobj.engine.errors import FrameError, MissingOutput, MissingVar, OutputRefused
from wfobj.engine.executors.base import InputFile, TaskSpec
from wfobj.engine.executors.capture import PREVIEW_BYTES, preview_text, split_frames, store_file
from wfobj.engine.executors.docker import DockerExecutor
from wfobj.engine.executors.outputs import (
    MAX_DEPTH,
    MAX_VARS_BYTES,
    OutputCollector,
    read_vars,
    split_output_path,
)
from wfobj.objstore import MemoryObjectStore, put_directory, walk_tree

IMAGE = "wfobj/toolbox:local"


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def tmp_tree(files: dict[str, bytes]) -> str:
    """The hash put_directory gives a folder holding `files`."""
    with tempfile.TemporaryDirectory() as folder:
        for path, data in files.items():
            os.makedirs(os.path.dirname(os.path.join(folder, path)), exist_ok=True)
            with open(os.path.join(folder, path), "wb") as f:
                f.write(data)
        return put_directory(MemoryObjectStore(), folder).oid


def make_spec(script: str, **kw) -> TaskSpec:
    fields = dict(
        run_id=str(uuid.uuid4()), task="t", attempt=1, image=IMAGE,
        command=["sh", "-c", script], env={}, workdir=None, network=False, cpus=None,
        memory=None, timeout=60, inputs=[], output_files=[], output_vars=[],
    )
    fields.update(kw)
    return TaskSpec(**fields)


@pytest.fixture
def work_root(tmp_path):
    root = tmp_path / "attempts"
    root.mkdir()
    return root


@pytest.fixture
def executor(docker_client, work_root):
    ex = DockerExecutor(docker_client, work_root=str(work_root), grace=20)
    yield ex
    ex.close()


@pytest.fixture
def mem_store():
    return MemoryObjectStore()


def run(ex, spec, store, cancel=None):
    return ex.run(spec, store, cancel or threading.Event())


def assert_clean(docker_client, work_root, spec):
    """No container of this run is left, and no attempt folder either."""
    left = docker_client.containers.list(all=True, filters={"label": f"wfobj.run={spec.run_id}"})
    assert left == []
    assert os.listdir(work_root) == []


# ---- success path -----------------------------------------------------------------------

SUCCESS_SCRIPT = """
set -e
cat /in/corpus /in/corpus > /out/double.txt
mkdir -p /out/nested/deeper
printf 'one' > /out/nested/a.txt
printf 'two' > /out/nested/deeper/b.txt
echo "greeting=$GREETING" >> "$WFOBJ_VARS"
echo "undeclared=zzz" >> "$WFOBJ_VARS"
echo "count=$(wc -c < /in/corpus)" >> "$WFOBJ_VARS"
pwd
echo "to stderr" >&2
"""


def test_success_records_outputs_vars_and_evidence(executor, docker_client, work_root, lmdb_store):
    corpus = b"the quick brown fox\njumps over\n"
    corpus_id = lmdb_store.put_blob(corpus)
    spec = make_spec(
        SUCCESS_SCRIPT, env={"GREETING": "hello world"}, workdir="/tmp",
        inputs=[InputFile("corpus", corpus_id, len(corpus))],
        output_files=["double.txt", "nested"], output_vars=["greeting", "count"],
    )
    result = run(executor, spec, lmdb_store)

    assert result.error is None and result.state == "success" and result.exit_code == 0
    outputs = {o.path: (o.kind, o.oid, o.size) for o in result.outputs}
    nested = tmp_tree({"a.txt": b"one", "deeper/b.txt": b"two"})
    assert outputs == {
        "double.txt": ("file", b3(corpus * 2), len(corpus) * 2),
        "nested": ("dir", nested, 6),  # a directory is one output: its tree
    }
    assert {p: e.oid for p, e in walk_tree(lmdb_store, nested) if e.kind == "file"} == {
        "a.txt": b3(b"one"), "deeper/b.txt": b3(b"two")}
    assert lmdb_store.get_raw(outputs["double.txt"][1]) == corpus * 2
    assert result.vars == {"greeting": "hello world", "count": str(len(corpus))}
    assert result.workdir == "/tmp"
    assert (result.stdout.oid, result.stdout.size, result.stdout.text) == (b3(b"/tmp\n"), 5, "/tmp\n")
    assert result.stderr.oid == b3(b"to stderr\n") and result.stderr.text == "to stderr\n"
    image = docker_client.images.get(IMAGE)
    assert result.image_id == image.id and result.image_id.startswith("sha256:")
    assert result.image_digests == sorted(image.attrs.get("RepoDigests") or [])
    info = docker_client.info()
    assert result.host == {"name": info["Name"], "docker_version": info["ServerVersion"]}
    assert result.started_at.tzinfo == UTC and result.ended_at >= result.started_at
    assert_clean(docker_client, work_root, spec)


def test_default_workdir_comes_from_the_image(executor, docker_client, work_root, mem_store):
    spec = make_spec("pwd")
    result = run(executor, spec, mem_store)
    assert result.state == "success"
    image_workdir = docker_client.images.get(IMAGE).attrs["Config"].get("WorkingDir") or "/"
    assert result.workdir == image_workdir
    assert result.stdout.text == image_workdir + "\n"
    assert_clean(docker_client, work_root, spec)


def test_no_network_by_default(executor, docker_client, work_root, mem_store):
    spec = make_spec("ls /sys/class/net")
    result = run(executor, spec, mem_store)
    assert result.state == "success"
    assert result.stdout.text.split() == ["lo"]
    assert_clean(docker_client, work_root, spec)


def test_hardening_inputs_read_only_no_mknod_no_new_privileges(
    executor, docker_client, work_root, mem_store
):
    data = b"input bytes"
    oid = mem_store.put_blob(data)
    script = """
    (echo x > /in/data) 2>/dev/null && echo in-writable || echo in-readonly
    mknod /tmp/null c 1 3 2>/dev/null && echo mknod-ok || echo mknod-refused
    grep NoNewPrivs /proc/self/status
    touch /out/ok && echo out-writable
    echo "whoami=$(id -u)"
    """
    spec = make_spec(script, inputs=[InputFile("data", oid, len(data))])
    result = run(executor, spec, mem_store)
    assert result.state == "success", result.error
    lines = [line.replace("\t", " ") for line in result.stdout.text.splitlines()]
    assert lines == ["in-readonly", "mknod-refused", "NoNewPrivs: 1", "out-writable", "whoami=0"]
    assert_clean(docker_client, work_root, spec)


CGROUP_LIMITS = """
if [ -f /sys/fs/cgroup/memory.max ]; then
  cat /sys/fs/cgroup/memory.max; cut -d' ' -f1 /sys/fs/cgroup/cpu.max; cut -d' ' -f2 /sys/fs/cgroup/cpu.max
else
  cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us
fi
"""


def test_resources_are_applied(executor, docker_client, work_root, mem_store):
    spec = make_spec(CGROUP_LIMITS, cpus=1.5, memory="64m")
    result = run(executor, spec, mem_store)
    assert result.state == "success", result.error
    memory, quota, period = (int(x) for x in result.stdout.text.split())
    assert memory == 64 * 1024 * 1024
    assert quota / period == 1.5
    assert_clean(docker_client, work_root, spec)


def test_bad_memory_value_is_a_failed_result(executor, docker_client, work_root, mem_store):
    spec = make_spec("true", memory="lots")
    result = run(executor, spec, mem_store)
    assert result.state == "failed" and result.exit_code is None
    assert result.error.startswith("container could not be created:") and "lots" in result.error
    assert_clean(docker_client, work_root, spec)


def test_parallel_attempts_share_one_executor(executor, docker_client, work_root, mem_store):
    specs = [make_spec(f"echo {i} > /out/n; echo n={i} >> $WFOBJ_VARS",
                       output_files=["n"], output_vars=["n"]) for i in range(3)]
    results: dict[int, object] = {}
    threads = [threading.Thread(target=lambda i=i: results.update({i: run(executor, specs[i],
                                                                           mem_store)}))
               for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for i, spec in enumerate(specs):
        assert results[i].state == "success", results[i].error
        assert results[i].vars == {"n": str(i)}
        assert results[i].outputs[0].oid == b3(f"{i}\n".encode())
        assert_clean(docker_client, work_root, spec)


def test_a_moved_tag_records_the_image_that_really_ran(executor, docker_client, work_root,
                                                       mem_store):
    ref = "wfobj/exec-test:moving"
    base = docker_client.images.get(IMAGE)
    base.tag("wfobj/exec-test", "moving")
    helper = docker_client.containers.create(IMAGE, ["true"], network_mode="none")
    try:
        first = run(executor, make_spec("true", image=ref), mem_store)
        assert first.image_id == base.id
        moved = helper.commit(repository="wfobj/exec-test", tag="moving",
                              changes=["LABEL wfobj.test=moved"])
        assert moved.id != base.id
        second = run(executor, make_spec("true", image=ref), mem_store)
        assert second.state == "success" and second.image_id == moved.id
    finally:
        helper.remove(force=True)
        docker_client.images.remove(ref, force=True)
        assert os.listdir(work_root) == []


# ---- failures -----------------------------------------------------------------------------

def test_non_zero_exit_fails_with_its_code(executor, docker_client, work_root, mem_store):
    spec = make_spec("echo partial; echo broken >&2; exit 3", output_files=["never.txt"])
    result = run(executor, spec, mem_store)
    assert (result.state, result.exit_code, result.error) == ("failed", 3, "exited with code 3")
    assert result.stdout.text == "partial\n" and result.stderr.oid == b3(b"broken\n")
    assert result.outputs == []
    assert_clean(docker_client, work_root, spec)


def test_missing_output_fails_naming_it(executor, docker_client, work_root, mem_store):
    spec = make_spec("echo hi > /out/present.txt", output_files=["present.txt", "absent.txt"])
    result = run(executor, spec, mem_store)
    assert result.state == "failed" and result.exit_code == 0
    assert "absent.txt" in result.error and "missing" in result.error
    assert_clean(docker_client, work_root, spec)


def test_missing_var_fails_naming_it(executor, docker_client, work_root, mem_store):
    spec = make_spec("echo a=1 >> $WFOBJ_VARS", output_vars=["a", "b"])
    result = run(executor, spec, mem_store)
    assert result.state == "failed" and result.exit_code == 0
    assert "'b'" in result.error and "WFOBJ_VARS" in result.error
    assert_clean(docker_client, work_root, spec)


def test_timeout_kills_the_container(executor, docker_client, work_root, mem_store):
    spec = make_spec("echo started; sleep 300", timeout=1)
    result = run(executor, spec, mem_store)
    assert result.state == "failed" and result.error == "timed out after 1s"
    assert result.exit_code == 137
    assert result.stdout.text == "started\n"
    assert_clean(docker_client, work_root, spec)


def test_missing_image_is_a_failed_result(executor, docker_client, work_root, mem_store):
    spec = make_spec("true", image="wfobj/does-not-exist:nope")
    result = run(executor, spec, mem_store)
    assert result.state == "failed" and result.exit_code is None
    assert "wfobj/does-not-exist:nope" in result.error and "not present locally" in result.error
    assert result.image_id is None and result.stdout.size == 0
    assert_clean(docker_client, work_root, spec)


def test_pull_never_refuses_a_missing_image_naming_it(executor, docker_client, work_root,
                                                      mem_store):
    spec = make_spec("true", image="wfobj/does-not-exist:nope", pull="never")
    result = run(executor, spec, mem_store)
    assert result.state == "failed" and result.exit_code is None
    assert result.error == ("image 'wfobj/does-not-exist:nope' is not present locally and "
                            "the pull policy is never")
    assert_clean(docker_client, work_root, spec)


def test_pull_never_runs_a_present_image(executor, docker_client, work_root, mem_store):
    result = run(executor, make_spec("echo hi", pull="never"), mem_store)
    assert result.state == "success" and result.stdout.text == "hi\n"
    assert result.image_id == docker_client.images.get(IMAGE).id


def test_pull_missing_pulls_an_absent_image(executor, docker_client, work_root, mem_store):
    """The daemon is asked to pull (this machine reaches no registry, so the pull fails and
    says so); a present image is never pulled, as the other tests show."""
    result = run(executor, make_spec("true", image="wfobj/does-not-exist:nope"), mem_store)
    assert "its pull failed" in result.error


def test_pull_always_pulls_even_a_present_image(executor, docker_client, work_root, mem_store):
    # wfobj/toolbox:local is built here and exists in no registry: pulling it must fail
    result = run(executor, make_spec("true", pull="always"), mem_store)
    assert result.state == "failed" and result.exit_code is None
    assert result.error.startswith(f"image {IMAGE!r} pull failed:")
    assert_clean(docker_client, work_root, spec=make_spec("true"))


def test_executor_default_pull_policy_applies_to_tasks_without_one(docker_client, work_root,
                                                                   mem_store):
    ex = DockerExecutor(docker_client, work_root=str(work_root), pull="never")
    result = run(ex, make_spec("true", image="wfobj/does-not-exist:nope"), mem_store)
    assert result.error.endswith("the pull policy is never")
    with pytest.raises(ValueError, match="sometimes"):
        DockerExecutor(docker_client, pull="sometimes")


def test_command_that_cannot_start(docker_client, work_root, mem_store):
    ex = DockerExecutor(docker_client, work_root=str(work_root), init=False)
    spec = make_spec("true", command=["/no/such/program"])
    result = run(ex, spec, mem_store)
    assert result.state == "failed" and result.exit_code is None
    assert result.error.startswith("container could not start:")
    assert "/no/such/program" in result.error and "\n" not in result.error
    assert_clean(docker_client, work_root, spec)


def test_command_that_cannot_exec_under_init(executor, docker_client, work_root, mem_store):
    """With the init process, a missing program is init's exec failure: exit 127."""
    spec = make_spec("true", command=["/no/such/program"])
    result = run(executor, spec, mem_store)
    assert (result.state, result.exit_code) == ("failed", 127)
    assert "/no/such/program" in result.stderr.text
    assert_clean(docker_client, work_root, spec)


def test_missing_input_object_is_a_failed_result(executor, docker_client, work_root, mem_store):
    spec = make_spec("true", inputs=[InputFile("x", "ab" * 32, 1)])
    result = run(executor, spec, mem_store)
    assert result.state == "failed" and "cannot stage inputs" in result.error
    assert_clean(docker_client, work_root, spec)


def test_a_directory_input_that_is_no_tree_is_a_failed_result(executor, docker_client,
                                                             work_root, mem_store):
    blob = mem_store.put_blob(b"a file, not a directory")
    spec = make_spec("true", inputs=[InputFile("x", blob, 23, "dir")])
    result = run(executor, spec, mem_store)
    assert result.state == "failed" and result.error.startswith("cannot stage inputs:")
    assert "blob" in result.error
    assert_clean(docker_client, work_root, spec)


# ---- cancel ----------------------------------------------------------------------------------

def wait_for_output(ex, docker_client, spec, marker: str) -> None:
    """Block until the attempt's container has printed `marker` into its stdout spool
    (in the attempt folder: a memory store has no live logs); the task is running."""
    prefix = f"wfobj-{spec.run_id}-"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for folder in os.listdir(ex.work_root):
            spool = os.path.join(ex.work_root, folder, "stdout")
            if folder.startswith(prefix) and os.path.exists(spool):
                with open(spool, "rb") as f:
                    if marker.encode() in f.read():
                        [c] = docker_client.containers.list(
                            filters={"label": f"wfobj.run={spec.run_id}"})
                        assert c.labels["wfobj.task"] == spec.task
                        return
        time.sleep(0.05)
    raise AssertionError(f"task never printed {marker!r}")


def run_and_cancel(ex, docker_client, spec, store):
    cancel = threading.Event()
    box = {}
    worker = threading.Thread(target=lambda: box.update(result=ex.run(spec, store, cancel)))
    worker.start()
    wait_for_output(ex, docker_client, spec, "ready")
    cancel.set()
    worker.join(120)
    assert not worker.is_alive()
    return box["result"]


def test_cancel_sends_sigterm_first(executor, docker_client, work_root, mem_store):
    script = "trap 'echo got-term; exit 0' TERM; echo ready; while true; do sleep 0.1; done"
    spec = make_spec(script)
    result = run_and_cancel(executor, docker_client, spec, mem_store)
    assert result.state == "killed"
    assert result.error == "killed on request (SIGTERM)"
    assert result.stdout.text == "ready\ngot-term\n"
    assert_clean(docker_client, work_root, spec)


def test_cancel_kills_a_task_ignoring_sigterm(docker_client, work_root, mem_store):
    ex = DockerExecutor(docker_client, work_root=str(work_root), grace=0.5)
    spec = make_spec("trap '' TERM; echo ready; sleep 300")
    result = run_and_cancel(ex, docker_client, spec, mem_store)
    assert result.state == "killed" and result.exit_code == 137
    assert result.error == "killed on request (SIGKILL after 0.5s grace)"
    assert_clean(docker_client, work_root, spec)


def test_cancel_before_start_runs_nothing(executor, docker_client, work_root, mem_store):
    cancel = threading.Event()
    cancel.set()
    spec = make_spec("touch /out/x")
    result = run(executor, spec, mem_store, cancel)
    assert result.state == "killed" and result.exit_code is None
    assert_clean(docker_client, work_root, spec)


def test_remove_leftovers_of_a_dead_worker(executor, docker_client, work_root):
    run_id = str(uuid.uuid4())
    docker_client.containers.run(IMAGE, ["sleep", "300"], detach=True, network_mode="none",
                                 labels={"wfobj.run": run_id, "wfobj.task": "t"})
    (work_root / f"wfobj-{run_id}-abc" / "out").mkdir(parents=True)
    (work_root / "wfobj-other-run-abc").mkdir()
    assert executor.remove_leftovers(run_id) == 1
    assert docker_client.containers.list(all=True, filters={"label": f"wfobj.run={run_id}"}) == []
    assert os.listdir(work_root) == ["wfobj-other-run-abc"]


# ---- hostile outputs ---------------------------------------------------------------------------

@pytest.fixture
def host_secret(tmp_path):
    secret = tmp_path / "host-secret.txt"
    secret.write_bytes(b"host secret that must never be read\n")
    return secret


HOSTILE = {
    "symlink-to-host-file": ("ln -s {secret} /out/x", ["x"], "symlink"),
    "symlink-to-etc-passwd": ("ln -s /etc/passwd /out/x", ["x"], "symlink"),
    "symlink-dir-on-path": ("ln -s {secret_dir} /out/d", ["d/host-secret.txt"], "symlink"),
    "symlink-inside-dir": ("mkdir /out/d; echo ok > /out/d/a; ln -s {secret} /out/d/z",
                           ["d"], "symlink"),
    "fifo": ("mkfifo /out/f", ["f"], "FIFO"),
    "fifo-inside-dir": ("mkdir /out/d; mkfifo /out/d/f", ["d"], "FIFO"),
    "dotdot": ("echo x > /out/x", ["../meta/vars"], "'..'"),
    "dotdot-inside": ("mkdir /out/a; echo x > /out/x", ["a/../x"], "'..'"),
    "absolute": ("echo x > /out/x", ["/etc/hostname"], "absolute"),
    "vars-symlink": ("rm $WFOBJ_VARS; ln -s {secret} $WFOBJ_VARS", [], "symlink"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_outputs_are_refused(case, executor, docker_client, work_root, mem_store,
                                     host_secret):
    script, outputs, reason = HOSTILE[case]
    before = host_secret.read_bytes()
    script = script.format(secret=host_secret, secret_dir=host_secret.parent)
    spec = make_spec(script, output_files=outputs,
                     output_vars=["v"] if case == "vars-symlink" else [])
    result = run(executor, spec, mem_store)
    assert result.state == "failed" and result.exit_code == 0
    assert reason in result.error, result.error
    assert result.outputs == [] and result.vars == {}
    assert b3(before) not in mem_store
    assert host_secret.read_bytes() == before
    assert_clean(docker_client, work_root, spec)


def test_large_stdout_is_captured_completely(executor, docker_client, work_root, lmdb_store):
    line = b"0123456789abcdefghijklmnopqrstuvwxyz\n"
    size = 20_000_000
    expected = (line * (size // len(line) + 1))[:size]
    spec = make_spec(f"yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c {size}")
    result = run(executor, spec, lmdb_store)
    assert result.state == "success", result.error
    assert result.stdout.size == size and result.stdout.oid == b3(expected)
    assert len(result.stdout.text) <= PREVIEW_BYTES
    assert result.stdout.text == expected[: len(result.stdout.text)].decode()
    assert_clean(docker_client, work_root, spec)


# ---- without Docker: the collection rules themselves ------------------------------------------

@pytest.mark.parametrize("path,parts", [("a", ["a"]), ("a/b/c.txt", ["a", "b", "c.txt"]),
                                        ("dir/", ["dir"]), ("a//b", ["a", "b"])])
def test_output_paths_accepted(path, parts):
    assert split_output_path(path) == parts


@pytest.mark.parametrize("path", ["", "/abs", "..", "a/../b", "./a", "a/.", "/", "a\x00b"])
def test_output_paths_refused(path):
    with pytest.raises(OutputRefused):
        split_output_path(path)


def test_collector_refuses_sockets_and_reports_missing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(out / "s"))
    try:
        collector = OutputCollector(MemoryObjectStore(), str(out))
        with pytest.raises(OutputRefused, match="socket"):
            collector.collect(["s"])
        with pytest.raises(MissingOutput, match="gone/x"):
            collector.collect(["gone/x"])
        (out / "f").write_bytes(b"file")
        with pytest.raises(OutputRefused, match="'f' on the path is not a regular file"):
            collector.collect(["f/x"])
    finally:
        sock.close()


def test_collector_takes_each_declared_path_once(tmp_path):
    """A directory is one output (its tree), a file inside it declared too is another."""
    out = tmp_path / "out"
    (out / "d").mkdir(parents=True)
    (out / "d" / "x").write_bytes(b"x")
    store = MemoryObjectStore()
    found = OutputCollector(store, str(out)).collect(["d", "d/x", "d/"])
    tree = put_directory(MemoryObjectStore(), out / "d")
    assert [(o.path, o.kind, o.oid, o.size) for o in found] == [
        ("d", "dir", tree.oid, 1), ("d/x", "file", b3(b"x"), 1)]


def test_collector_stores_a_directory_as_the_tree_put_directory_makes(tmp_path):
    out = tmp_path / "out"
    (out / "d" / "empty").mkdir(parents=True)
    (out / "d" / "sub" / "deeper").mkdir(parents=True)
    (out / "d" / "a.txt").write_bytes(b"a")
    (out / "d" / "sub" / "deeper" / "b.bin").write_bytes(bytes(range(256)) * 40)
    (out / "d" / "run.sh").write_bytes(b"#!/bin/sh\n")
    os.chmod(out / "d" / "run.sh", 0o755)
    store = MemoryObjectStore()
    [found] = OutputCollector(store, str(out)).collect(["d"])
    expected = put_directory(MemoryObjectStore(), out / "d")
    assert (found.kind, found.oid, found.size) == ("dir", expected.oid, expected.size)
    entries = {path: e for path, e in walk_tree(store, found.oid)}
    assert entries["run.sh"].executable and not entries["a.txt"].executable
    assert entries["empty"].kind == "dir" and entries["sub/deeper/b.bin"].size == 10240
    assert store.get_raw(entries["a.txt"].oid) == b"a"


def test_collector_bounds_depth_and_refuses_non_utf8_names(tmp_path):
    out = tmp_path / "out"
    deep = out / "d" / "/".join(["n"] * (MAX_DEPTH + 2))
    deep.mkdir(parents=True)
    (deep / "f").write_bytes(b"deep")
    collector = OutputCollector(MemoryObjectStore(), str(out))
    with pytest.raises(OutputRefused, match="nested deeper"):
        collector.collect(["d"])
    (out / "e").mkdir()
    with open(os.path.join(os.fsencode(out / "e"), b"bad\xffname"), "wb") as f:
        f.write(b"x")
    with pytest.raises(OutputRefused, match="not UTF-8"):
        collector.collect(["e"])


def test_read_vars_rules(tmp_path):
    (tmp_path / "vars").write_bytes(b"a=1\nnoequals\nb=x=y\na=2\nc=3\n")
    assert read_vars(str(tmp_path), "vars", ["a", "b"]) == {"a": "2", "b": "x=y"}
    with pytest.raises(MissingVar, match="'d'"):
        read_vars(str(tmp_path), "vars", ["d"])
    (tmp_path / "vars").write_bytes(b"a=" + b"x" * MAX_VARS_BYTES)
    with pytest.raises(OutputRefused, match="larger than"):
        read_vars(str(tmp_path), "vars", ["a"])
    os.remove(tmp_path / "vars")
    os.mkfifo(tmp_path / "vars")
    with pytest.raises(OutputRefused, match="FIFO"):
        read_vars(str(tmp_path), "vars", ["a"])


def frame(kind: int, payload: bytes) -> bytes:
    return bytes([kind, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def test_split_frames_demultiplexes_across_chunk_boundaries(tmp_path):
    stream = frame(1, b"out-1\n") + frame(2, b"err-1\n") + frame(1, b"out-2\n") + frame(1, b"")
    pieces = [stream[i : i + 5] for i in range(0, len(stream), 5)]  # headers cut in two
    with open(tmp_path / "o", "wb") as out, open(tmp_path / "e", "wb") as err:
        split_frames(pieces, out, err)
    assert (tmp_path / "o").read_bytes() == b"out-1\nout-2\n"
    assert (tmp_path / "e").read_bytes() == b"err-1\n"
    with open(tmp_path / "o", "wb") as out, open(tmp_path / "e", "wb") as err:
        with pytest.raises(FrameError, match="inside a frame"):
            split_frames([stream[:-3]], out, err)
        with pytest.raises(FrameError, match="unknown"):
            split_frames([frame(7, b"x")], out, err)


def test_store_file_streams_and_previews(tmp_path, mem_store):
    data = "é".encode() * 10 + b"abc" * 20_000 + b"tail"
    (tmp_path / "log").write_bytes(data)
    stored = store_file(mem_store, str(tmp_path / "log"))
    assert stored.oid == b3(data) and stored.size == len(data)
    assert mem_store.get_raw(stored.oid) == data
    assert stored.text == data[:PREVIEW_BYTES].decode()
    # a multi-byte character cut by the preview bound is dropped, not garbled
    assert preview_text("é".encode()[:1], truncated=True) == ""
    assert preview_text(b"\xff!", truncated=False) == "\ufffd!"

"""The private Slurm cluster for tests (scripts/slurm-cluster.sh) and ways to look at it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "slurm-cluster.sh"
CLUSTER_DIR = os.environ.get("WFOBJ_SLURM_DIR", "/tmp/wfobj-slurm")


@dataclass
class Cluster:
    conf: str
    dir: str
    started_here: bool

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": self.conf}

    def squeue(self) -> list[tuple[str, str, str]]:
        """(job id, state, node) of every job the controller knows."""
        out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i|%T|%N"], env=self.env(),
                             capture_output=True, text=True, check=True).stdout
        return [tuple(line.split("|")) for line in out.splitlines() if line.strip()]

    def active_jobs(self) -> list[tuple[str, str, str]]:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T|%N"], env=self.env(),
                             capture_output=True, text=True, check=True).stdout
        return [tuple(line.split("|")) for line in out.splitlines() if line.strip()]

    def nodes(self) -> dict[str, str]:
        """node name -> state as sinfo prints it (idle, mix, down*, …)."""
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %t"], env=self.env(),
                             capture_output=True, text=True, check=True).stdout
        return dict(line.split() for line in out.splitlines() if line.strip())

    def kill_slurmd(self, node: str) -> None:
        """SIGKILL the slurmd serving `node` (its jobs' processes live on, unsupervised)."""
        pid = int(Path(self.dir, "run", f"slurmd-{node}.pid").read_text())
        os.kill(pid, signal.SIGKILL)

    def restart_slurmd(self, node: str) -> None:
        """Start `node`'s slurmd again; it kills the jobs the controller has ended, and the
        node returns to service (ReturnToService=2)."""
        subprocess.run(["slurmd", "-f", self.conf, "-N", node], env=self.env(), check=True,
                       capture_output=True, timeout=30)
        self.wait_for(lambda: self.nodes().get(node) in ("idle", "mix", "alloc"),
                      what=f"{node} back in service")

    def batch_script(self, job_id: str) -> str:
        """The script a job was submitted with, as the controller holds it."""
        return subprocess.run(["scontrol", "write", "batch_script", job_id, "-"],
                              env=self.env(), capture_output=True, text=True,
                              check=True).stdout

    def wait_for(self, predicate, timeout: float = 60.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; queue: {self.squeue()}")


def start_cluster() -> tuple[Cluster | None, str | None]:
    if shutil.which("slurmctld") is None or shutil.which("munged") is None:
        return None, "slurmctld or munged not installed"
    was_running = Path(CLUSTER_DIR, "run", "slurmctld.pid").exists()
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True,
                          env={**os.environ, "WFOBJ_SLURM_DIR": CLUSTER_DIR}, timeout=120)
    if done.returncode != 0:
        return None, done.stderr.strip()[-1000:]
    return Cluster(f"{CLUSTER_DIR}/slurm.conf", CLUSTER_DIR, not was_running), None


def stop_cluster(cluster: Cluster) -> None:
    subprocess.run(["bash", str(SCRIPT), "--stop"], capture_output=True, timeout=60,
                   env={**os.environ, "WFOBJ_SLURM_DIR": cluster.dir}, check=False)

"""Facts about the Docker daemon and its images, looked up once and cached.

An attempt records which image really ran (id and repo digests) and which host ran it.
Asking the daemon for these on every attempt would cost several API calls per task, so
both are cached per executor; the image cache is re-checked for free against the image id
the daemon reports when it creates the container (see DockerExecutor).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import docker
import docker.errors
from docker.utils import parse_repository_tag

from wfobj.engine.errors import ImageUnavailable, one_line
from wfobj.engine.values import PULL_POLICIES


@dataclass(frozen=True)
class DockerImage:
    image_id: str  # sha256:…
    digests: list[str] = field(default_factory=list)  # repo digests, name@sha256:…
    workdir: str = "/"  # the image's working directory


def image_facts(image) -> DockerImage:
    """The recorded facts of a docker SDK Image."""
    config = image.attrs.get("Config") or {}
    return DockerImage(
        image_id=image.id,
        digests=sorted(image.attrs.get("RepoDigests") or []),
        workdir=config.get("WorkingDir") or "/",
    )


def check_pull_policy(policy: str) -> str:
    if policy not in PULL_POLICIES:
        raise ValueError(f"pull policy {policy!r} is not one of {', '.join(PULL_POLICIES)}")
    return policy


class DockerFacts:
    """Cached image lookups (by reference) and daemon host facts for one Docker client.

    `pull` is the default policy of tasks that set none: `missing` pulls an image not
    present locally, `always` pulls before every attempt, `never` refuses a missing one."""

    def __init__(self, client: docker.DockerClient, *, pull: str = "missing"):
        check_pull_policy(pull)
        self.client = client
        self.pull = pull
        self._images: dict[str, DockerImage] = {}
        self._host: dict[str, str] | None = None
        self._lock = threading.Lock()

    def host(self) -> dict[str, str]:
        """{"name": daemon host name, "docker_version": daemon version}."""
        if self._host is None:
            info = self.client.info()
            self._host = {
                "name": str(info.get("Name", "")),
                "docker_version": str(info.get("ServerVersion", "")),
            }
        return self._host

    def image(self, ref: str, policy: str | None = None) -> DockerImage:
        """Facts of the image `ref` as `policy` (default: the executor's) resolves it.
        Raises ImageUnavailable when it cannot be had."""
        policy = policy or self.pull
        if policy == "always":
            return self._remember(ref, image_facts(self._pull(ref, "pull failed")))
        with self._lock:
            cached = self._images.get(ref)
        if cached is not None:
            return cached
        return self.refresh(ref, policy)

    def refresh(self, ref: str, policy: str | None = None) -> DockerImage:
        """Look `ref` up again (the tag may have moved) and cache the answer."""
        return self._remember(ref, image_facts(self._lookup(ref, policy or self.pull)))

    def _remember(self, ref: str, facts: DockerImage) -> DockerImage:
        with self._lock:
            self._images[ref] = facts
        return facts

    def forget(self, ref: str) -> None:
        with self._lock:
            self._images.pop(ref, None)

    def _lookup(self, ref: str, policy: str):
        try:
            return self.client.images.get(ref)
        except docker.errors.ImageNotFound:
            if policy == "never":
                raise ImageUnavailable(ref, "is not present locally and the pull policy "
                                       "is never") from None
        except docker.errors.APIError as exc:
            raise ImageUnavailable(ref, f"cannot be inspected: {docker_message(exc)}") from None
        return self._pull(ref, "is not present locally and its pull failed")

    def _pull(self, ref: str, what: str):
        repo, tag = parse_repository_tag(ref)
        try:
            return self.client.images.pull(repo, tag=tag or "latest")
        except docker.errors.DockerException as exc:
            raise ImageUnavailable(ref, f"{what}: {docker_message(exc)}") from None


def docker_message(exc: BaseException) -> str:
    """A Docker SDK error's message on one line (its explanation when it has one)."""
    return one_line(str(getattr(exc, "explanation", None) or exc))

"""Where trial checkpoints live: Optuna's artifact stores, written atomically, checked on read.

``execution.checkpoints`` names a folder (a local one, or a mount the whole fleet shares) or
``s3://bucket/prefix``. A folder is Optuna's :class:`~optuna.artifacts.FileSystemArtifactStore`
with one change: a checkpoint is written to a temporary file and then renamed over the old
one, so a reader sees the previous checkpoint or the new one, never half of one. S3 puts are
atomic already (:class:`~optuna.artifacts.Boto3ArtifactStore`, with boto3 from the ``s3``
extra). Every checkpoint starts with a magic line and the SHA-256 of its body: a torn,
truncated or foreign file is refused as :class:`CorruptCheckpoint`, never half-read.

This module moves bytes; what is in them is :mod:`automl.training.checkpoint`'s business.
A retried trial finds its predecessor's checkpoint because the key is the study uid and the
number of the first trial of the lineage (``retry_of``), which every retry shares.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path
from typing import Any, BinaryIO

from optuna.artifacts import FileSystemArtifactStore
from optuna.artifacts.exceptions import ArtifactNotFound

from automl.errors import UsageError
from automl.studyfile.schema import BackendKind, StudySpec

MAGIC = b"automl-checkpoint 1\n"
DEFAULT_FOLDER = "automl-checkpoints"


class CorruptCheckpoint(Exception):  # noqa: N818 - read as "this checkpoint is corrupt"
    """The stored bytes are not a whole checkpoint."""


class AtomicFileSystemStore(FileSystemArtifactStore):
    """Optuna's folder store, but a write replaces the old file in one rename.

    The temporary file has a name of its own per key (one trial lineage has one writer at a
    time), so a writer killed mid-write leaves one file that the next write of that key
    replaces and :meth:`remove` deletes with the checkpoint."""

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        final = self._get_filepath(artifact_id)
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = _partial(final)
        try:
            with open(partial, "wb") as f:
                shutil.copyfileobj(content_body, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)

    def remove(self, artifact_id: str) -> None:
        _partial(self._get_filepath(artifact_id)).unlink(missing_ok=True)
        super().remove(artifact_id)


def _partial(final: Path) -> Path:
    return final.with_name(f".{final.name}.partial")


class _PrefixedStore:
    """An artifact store whose keys all start with ``prefix/`` (S3's ``s3://bucket/prefix``)."""

    def __init__(self, store: Any, prefix: str) -> None:
        self._store, self._prefix = store, prefix.strip("/")

    def _key(self, artifact_id: str) -> str:
        return f"{self._prefix}/{artifact_id}" if self._prefix else artifact_id

    def open_reader(self, artifact_id: str) -> BinaryIO:
        return self._store.open_reader(self._key(artifact_id))

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self._store.write(self._key(artifact_id), content_body)

    def remove(self, artifact_id: str) -> None:
        self._store.remove(self._key(artifact_id))


def open_store(location: str) -> Any:
    """The artifact store ``execution.checkpoints`` names."""
    if location.startswith("s3://"):
        bucket, _, prefix = location[len("s3://") :].partition("/")
        if not bucket:
            raise UsageError(
                f"execution.checkpoints: {location!r} names no bucket; write s3://bucket/prefix"
            )
        try:
            from optuna.artifacts import Boto3ArtifactStore
        except ImportError:  # pragma: no cover - boto3 is the optional extra
            raise UsageError(
                "execution.checkpoints: s3:// needs boto3; pip install 'automl[s3]'"
            ) from None
        return _PrefixedStore(Boto3ArtifactStore(bucket), prefix)
    if "://" in location:
        raise UsageError(
            f"execution.checkpoints: {location!r} is neither a folder nor s3://bucket/prefix"
        )
    return AtomicFileSystemStore(Path(location).expanduser())


def checkpoint_location(spec: StudySpec, storage_url: str) -> str | None:
    """Where this study's checkpoints go: ``execution.checkpoints``, else a folder beside a
    SQLite or journal-file storage for the local backend, else nowhere (checkpoints off)."""
    if spec.trainer.checkpoint_every == "none":
        return None
    if spec.execution.checkpoints:
        return spec.execution.checkpoints
    if spec.execution.backend != BackendKind.LOCAL:
        return None
    if storage_url.startswith("sqlite:///"):
        path = Path(storage_url[len("sqlite:///") :])
    elif "://" not in storage_url:  # a journal file
        path = Path(storage_url)
    else:
        return None
    return str(path.expanduser().resolve().parent / DEFAULT_FOLDER)


def checkpoint_key(study_uid: str | None, lineage_root: int) -> str:
    """One key per trial lineage: every retry of trial ``lineage_root`` shares it."""
    return f"{study_uid or 'study'}-trial-{lineage_root}.ckpt"


class LineageCheckpoint:
    """The one checkpoint of a trial lineage: only the latest is kept."""

    def __init__(self, store: Any, key: str) -> None:
        self.store, self.key = store, key

    def put(self, body: bytes) -> None:
        blob = MAGIC + hashlib.sha256(body).hexdigest().encode() + b"\n" + body
        self.store.write(self.key, io.BytesIO(blob))

    def get(self) -> bytes | None:
        """The body, or None when there is no checkpoint; CorruptCheckpoint when it is torn."""
        try:
            with self.store.open_reader(self.key) as f:
                blob = f.read()
        except ArtifactNotFound:
            return None
        head, digest_line, body = (
            blob[: len(MAGIC)],
            blob[len(MAGIC) : len(MAGIC) + 65],
            blob[len(MAGIC) + 65 :],
        )
        if head != MAGIC or digest_line[-1:] != b"\n":
            raise CorruptCheckpoint(f"{self.key} is not an automl checkpoint")
        if hashlib.sha256(body).hexdigest().encode() != digest_line[:-1]:
            raise CorruptCheckpoint(f"{self.key} is torn or corrupt (checksum mismatch)")
        return body

    def remove(self) -> None:
        try:
            self.store.remove(self.key)
        except (ArtifactNotFound, FileNotFoundError):
            pass


def checkpoint_of(
    spec: StudySpec, storage_url: str, study_uid: str | None, lineage_root: int
) -> LineageCheckpoint | None:
    """The checkpoint of a trial lineage (its store and key), or None when checkpoints are off."""
    location = checkpoint_location(spec, storage_url)
    if location is None:
        return None
    return LineageCheckpoint(open_store(location), checkpoint_key(study_uid, lineage_root))

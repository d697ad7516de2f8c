"""A program trial's checkpoint folder (``AUTOML_CHECKPOINT_DIR``), kept in the checkpoint store.

Whatever the program writes to its folder is saved as one tar file: the folder's files under
``files/``, and ``automl.json`` with the step it was saved at, the values reported up to it,
and the trial's identity (the program and its params). A trial run again after its worker died
or was preempted gets the folder back as it was last saved, and the curve so far; a copy of
another identity, or one that cannot be read, means a fresh start with one warning. See
:mod:`automl.usercode.program` for when the folder is saved.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from automl.training.checkpoint import CheckpointBlob, fresh_start, write_checkpoint
from automl.training.reporter import Reported

FORMAT = 1
SMALL_FILE = 1 << 20  # files up to 1 MiB are compared by content too


class CheckpointFolder:
    """The folder of one trial, kept in ``blob`` (None: nothing is kept) under ``identity``;
    ``on_saved(step)`` after each save. ``step`` is the step of the copy saved (or restored)
    last."""

    def __init__(
        self, blob: CheckpointBlob | None, identity: str, on_saved: Callable[[int], None]
    ) -> None:
        self._blob, self._identity, self._on_saved = blob, identity, on_saved
        self.step = 0
        self.restored = False  # a saved copy was put back in the folder
        self._seen: tuple[tuple[Any, ...], ...] = ()

    @property
    def kept(self) -> bool:
        return self._blob is not None

    def restore(self, folder: Path) -> dict[int, Reported]:
        """Fill the empty ``folder`` with the last copy saved; the values reported up to it
        (empty: a fresh start)."""
        if self._blob is None:
            return {}
        try:
            body = self._blob.get()
            if body is None:
                return {}
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as tar:
                meta = json.loads(tar.extractfile("automl.json").read())  # type: ignore[union-attr]
                if meta.get("format") != FORMAT or meta.get("identity") != self._identity:
                    fresh_start("it belongs to other params or another train:")
                    return {}
                members = [
                    m
                    for m in tar.getmembers()
                    if m.name.startswith("files/") and (m.isfile() or m.isdir())
                ]
                for m in members:
                    m.name = m.name[len("files/") :]
                tar.extractall(folder, members=[m for m in members if m.name], filter="data")
        except Exception as exc:  # noqa: BLE001 - an unreadable checkpoint means a fresh start
            fresh_start(str(exc))
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            return {}
        reported = dict(sorted((int(k), _reported(v)) for k, v in meta["reported"].items()))
        self.step = int(meta["step"])
        self.restored = True
        self._seen = signature(folder)
        return reported

    def changed(self, folder: Path) -> bool:
        """Whether the folder differs from the copy saved (or restored) last."""
        return signature(folder) != self._seen

    def save(self, folder: Path, reported: Mapping[int, Reported]) -> None:
        """Keep the folder, labelled with the last step in ``reported``; nothing when it is
        empty."""
        if self._blob is None:
            return
        seen = signature(folder)
        if not seen:
            return  # the program wrote nothing to keep
        step = max(reported, default=0)
        meta = {"format": FORMAT, "identity": self._identity, "step": step,
                "reported": {str(k): v for k, v in reported.items()}}  # fmt: skip
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:") as tar:
            data = json.dumps(meta).encode()
            info = tarfile.TarInfo("automl.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            tar.add(folder, arcname="files")
        if not write_checkpoint(self._blob, buf.getvalue(), step):
            return
        self._seen = seen
        self.step = step
        self._on_saved(step)


def signature(folder: Path) -> tuple[tuple[Any, ...], ...]:
    """What the folder holds: path, size, inode and mtime of every file, and the content of
    small ones (a file rewritten within one clock tick keeps its mtime); empty when nothing."""
    out = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            st = path.stat()
            small = (
                hashlib.blake2b(path.read_bytes(), digest_size=8).hexdigest()
                if st.st_size <= SMALL_FILE
                else ""
            )
            out.append(
                (str(path.relative_to(folder)), st.st_size, st.st_ino, st.st_mtime_ns, small)
            )
    return tuple(out)


def _reported(value: Any) -> Reported:
    """A value as saved: a number, or several by name."""
    if isinstance(value, dict):
        return {str(k): float(v) for k, v in value.items()}
    return float(value)

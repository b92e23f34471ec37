"""Bundle files on disk: writing a bundle directory, digesting and listing its files, packing and
unpacking the ``.tar.gz`` form. The format itself (records, manifest, names) is
``pausewatch.bundle``, which does no I/O. Every OS error is wrapped with the path it concerns."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pausewatch.bundle import (
    CHECKPOINTS_DIR,
    CONSISTENCY_FILE,
    DOC_FILES,
    ENTRIES_FILE,
    INCLUSION_FILE,
    MANIFEST_FILE,
    MAX_ARCHIVE_BYTES,
    MAX_ARCHIVE_MEMBERS,
    OPTIONAL_DOC_FILES,
    POLICY_FILE,
    ROOTS_FILE,
    BundleFileError,
    FileDigest,
    Manifest,
    Scope,
    checkpoint_file_name,
    encode_entry_record,
    encode_proof_record,
    make_counts,
    parse_manifest,
)
from pausewatch.errors import EnvironmentFaultError, FormatError

__all__ = [
    "BundleWriter",
    "extract_archive",
    "file_digest",
    "list_bundle_files",
    "rewrite_manifest",
    "temporary_directory",
    "write_archive",
]

def file_digest(path: Path) -> FileDigest:
    """SHA-256 and size of a file, streamed."""
    h = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
    except OSError as e:
        raise EnvironmentFaultError(f"{path}: cannot read: {e.strerror}") from e
    return FileDigest(h.hexdigest(), size)


def list_bundle_files(root: Path) -> list[str]:
    """Every regular file under ``root`` as a bundle-relative name, sorted; links refused."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [*filenames, *dirnames]:
            p = Path(dirpath) / name
            if p.is_symlink():
                raise BundleFileError(f"{p.relative_to(root)}: a link; bundles hold only plain files")
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if not p.is_file():
                raise BundleFileError(f"{p.relative_to(root)}: not a plain file")
            out.append(p.relative_to(root).as_posix())
    return sorted(out)


def write_archive(directory: Path, archive: Path, *, top: str | None = None) -> None:
    """Pack a bundle directory into a ``.tar.gz`` whose members sit under one top folder
    (``top``, else named like the archive); mtimes and owners are zeroed so equal bundles give
    equal archives."""
    top = top or archive.name.removesuffix(".tar.gz").removesuffix(".tgz") or "bundle"

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    tmp = archive.with_name(archive.name + ".partial")
    try:
        with tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as tar:
            for name in list_bundle_files(directory):
                tar.add(directory / name, arcname=f"{top}/{name}", recursive=False, filter=clean)
        os.replace(tmp, archive)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise EnvironmentFaultError(f"{archive}: cannot write archive: {e.strerror}") from e


def extract_archive(archive: Path, into: Path) -> Path:
    """Safely unpack a bundle archive into ``into`` and return the bundle directory.

    Only plain files and folders; no absolute names, ``..``, links or devices; bounded count
    and size. A corrupt or truncated archive raises BundleFileError (the evidence is bad);
    an unreadable one EnvironmentFaultError.
    """
    if not archive.is_file():
        raise EnvironmentFaultError(f"{archive}: no such file")
    total = 0
    tops: set[str] = set()
    try:
        _check_whole_gzip(archive)
        with tarfile.open(archive, "r:*") as tar:
            for n, member in enumerate(tar):
                if n >= MAX_ARCHIVE_MEMBERS:
                    raise BundleFileError(f"{archive.name}: more than {MAX_ARCHIVE_MEMBERS} members")
                name = member.name
                parts = Path(name).parts
                if name.startswith("/") or ".." in parts or not parts:
                    raise BundleFileError(f"{archive.name}: unsafe member name {name[:80]!r}")
                if not (member.isfile() or member.isdir()):
                    raise BundleFileError(f"{archive.name}: member {name[:80]!r} is not a plain file")
                total += member.size
                if total > MAX_ARCHIVE_BYTES:
                    raise BundleFileError(f"{archive.name}: unpacks to more than {MAX_ARCHIVE_BYTES} bytes")
                tops.add(parts[0])
                target = into / Path(*parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    raise BundleFileError(f"{archive.name}: cannot read member {name[:80]!r}")
                with source, target.open("wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise BundleFileError(f"{archive.name}: corrupt or truncated archive: {e}") from e
    except OSError as e:
        if isinstance(e, (FileNotFoundError, PermissionError)) and not Path(archive).exists():
            raise EnvironmentFaultError(f"{archive}: cannot read: {e.strerror}") from e
        raise BundleFileError(f"{archive.name}: corrupt or truncated archive: {e}") from e
    if len(tops) != 1:
        raise BundleFileError(f"{archive.name}: must hold exactly one top folder, found {len(tops)}")
    return into / tops.pop()


def _check_whole_gzip(archive: Path) -> None:
    """Read a gzip stream to its end, so a cut or altered trailer (CRC, length) is caught even
    when the tar inside ends cleanly before it."""
    with archive.open("rb") as raw:
        if raw.read(2) != b"\x1f\x8b":
            return
    with gzip.open(archive, "rb") as f:
        while f.read(1 << 20):
            pass


def temporary_directory(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=prefix)


class BundleWriter:
    """Write a bundle directory entry by entry (memory stays flat), then :meth:`finish`.

    ``type_of(envelope) -> count name`` classifies entries ("usage_reports", "inventories",
    …); the writer mirrors inventories, commitments, challenges and verdicts into their own
    files and counts everything for the manifest.
    """

    def __init__(self, directory: Path, *, origin: str, scope: Scope, type_of: Any) -> None:
        self.dir = directory
        self.origin = origin
        self.scope = scope
        self._type_of = type_of
        self._counts = make_counts()
        self._last_index = -1
        self._checkpoints: list[int] = []
        try:
            directory.mkdir(parents=True, exist_ok=False)
            (directory / CHECKPOINTS_DIR).mkdir()
            self._entries = (directory / ENTRIES_FILE).open("wb")
            self._docs = {k: (directory / v).open("wb") for k, v in DOC_FILES.items()}
            self._consistency = (directory / CONSISTENCY_FILE).open("wb")
            self._inclusion = (directory / INCLUSION_FILE).open("wb") if scope.kind == "slice" else None
        except FileExistsError as e:
            raise EnvironmentFaultError(f"{directory}: already exists; refusing to overwrite") from e
        except OSError as e:
            raise EnvironmentFaultError(f"{directory}: cannot create bundle: {e.strerror}") from e

    def add_entry(
        self, index: int, envelope: bytes, inclusion: Iterable[bytes] | None = None, *, tree_size: int = 0
    ) -> None:
        if index <= self._last_index:
            raise FormatError(f"entries must be added in log order: {index} after {self._last_index}")
        self._last_index = index
        record = encode_entry_record(index, envelope)
        self._entries.write(record)
        type_name = self._type_of(envelope)
        self._counts[type_name] = self._counts.get(type_name, 0) + 1
        self._counts["entries"] += 1
        if type_name in OPTIONAL_DOC_FILES and type_name not in self._docs:
            try:  # written only when the log holds such entries: older bundles stay as they were
                self._docs[type_name] = (self.dir / OPTIONAL_DOC_FILES[type_name]).open("wb")
            except OSError as e:
                raise EnvironmentFaultError(f"{self.dir}: cannot write bundle: {e.strerror}") from e
        if type_name in self._docs:
            self._docs[type_name].write(record)
        if self._inclusion is not None:
            if inclusion is None:
                raise FormatError("a slice bundle needs an inclusion proof for every entry")
            self._inclusion.write(encode_proof_record(index, tree_size, inclusion))

    def add_checkpoint(self, size: int, note: bytes) -> None:
        if self._checkpoints and size <= self._checkpoints[-1]:
            raise FormatError("checkpoints must be added by increasing size")
        self._checkpoints.append(size)
        (self.dir / checkpoint_file_name(size)).write_bytes(note)
        self._counts["checkpoints"] += 1

    def add_consistency(self, old: int, new: int, proof: Iterable[bytes]) -> None:
        self._consistency.write(encode_proof_record(old, new, proof))

    def finish(self, *, policy: bytes, roots: bytes) -> Manifest:
        """Close the files, write the trust files and the manifest; return the manifest."""
        try:
            for f in (self._entries, self._consistency, *self._docs.values()):
                f.close()
            if self._inclusion is not None:
                self._inclusion.close()
            (self.dir / POLICY_FILE).write_bytes(policy)
            (self.dir / ROOTS_FILE).write_bytes(roots)
            files = {
                name: file_digest(self.dir / name)
                for name in list_bundle_files(self.dir)
                if name != MANIFEST_FILE
            }
            manifest = Manifest(
                origin=self.origin,
                tree_size=self._checkpoints[-1] if self._checkpoints else 0,
                scope=self.scope,
                counts=self._counts,
                files=files,
            )
            (self.dir / MANIFEST_FILE).write_bytes(manifest.format())
        except OSError as e:
            raise EnvironmentFaultError(f"{self.dir}: cannot write bundle: {e.strerror}") from e
        return manifest


def rewrite_manifest(directory: Path) -> Manifest:
    """Recompute every file digest of an existing bundle (keeping origin, scope and counts):
    for tools and tests that change content on purpose."""
    old = parse_manifest((directory / MANIFEST_FILE).read_bytes())
    files = {
        name: file_digest(directory / name) for name in list_bundle_files(directory) if name != MANIFEST_FILE
    }
    manifest = Manifest(old.origin, old.tree_size, old.scope, old.counts, files)
    (directory / MANIFEST_FILE).write_bytes(manifest.format())
    return manifest

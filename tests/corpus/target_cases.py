"""Command-line targets that are not checkpoints at all: each must be one clear error line, exit 3."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from tests.corpus import Case

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


def _missing(folder: Path) -> str:
    return str(folder / "nowhere" / "model.safetensors")


def _empty_folder(folder: Path) -> str:
    (folder / "model").mkdir()
    (folder / "model" / "README.md").write_text("weights not included\n")
    return str(folder / "model")


def _fifo(folder: Path) -> str:
    os.mkfifo(folder / "model.bin")
    return str(folder / "model.bin")


def _unreadable(folder: Path) -> str:
    path = folder / "model.safetensors"
    path.write_bytes(b"\x08" + bytes(7) + b"{}      ")
    path.chmod(0)
    return str(path)


def _unreadable_folder(mode: int) -> Callable[[Path], str]:
    """A model folder that cannot be listed (0o000) or can be listed but not entered (0o600)."""

    def build(folder: Path) -> str:
        model = folder / "model"
        model.mkdir()
        (model / "model.safetensors").write_bytes(b"\x08" + bytes(7) + b"{}      ")
        model.chmod(mode)
        return str(model)

    return build


def _empty_file(folder: Path) -> str:
    (folder / "model.bin").write_bytes(b"")
    return str(folder / "model.bin")


def _symlink_loop(folder: Path) -> str:
    (folder / "a.safetensors").symlink_to(folder / "b.safetensors")
    (folder / "b.safetensors").symlink_to(folder / "a.safetensors")
    return str(folder / "a.safetensors")


def _dangling(folder: Path) -> str:
    (folder / "model.safetensors").symlink_to(folder / "gone.safetensors")
    return str(folder / "model.safetensors")


def _non_utf8_name(folder: Path) -> str:
    name = os.fsencode(folder) + b"/model-\xff.safetensors"
    with open(name, "wb") as f:
        f.write(b"\x02\x00\x00")
    return os.fsdecode(name)


def _through_a_file(folder: Path) -> str:
    (folder / "notes.txt").write_text("hello\n")
    return str(folder / "notes.txt" / "model.bin")


def _text_file(folder: Path) -> str:
    (folder / "model.bin").write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 42\n")
    return str(folder / "model.bin")


def cases() -> list[Case]:
    return [
        Case("target-missing-path", "target", _missing, 3),
        Case("target-folder-without-weights", "target", _empty_folder, 3),
        Case("target-fifo", "target", _fifo, 3),
        Case("target-dev-zero", "target", lambda folder: "/dev/zero", 3),
        Case("target-dev-null", "target", lambda folder: "/dev/null", 3),
        Case("target-unreadable-file", "target", _unreadable, 3, unprivileged=True),
        Case("target-unlistable-folder", "target", _unreadable_folder(0o000), 3, unprivileged=True),
        Case("target-unenterable-folder", "target", _unreadable_folder(0o600), 3, unprivileged=True),
        Case("target-dotted-call-not-a-spec", "target", lambda folder: "torch.nn.Linear(2, 2)", 3),
        Case("target-empty-file", "target", _empty_file, 3),
        Case("target-symlink-loop", "target", _symlink_loop, 3),
        Case("target-dangling-symlink", "target", _dangling, 3),
        Case("target-non-utf8-name", "target", _non_utf8_name, 3),
        Case("target-path-through-a-file", "target", _through_a_file, 3),
        Case("target-git-lfs-pointer", "target", _text_file, 3),
        Case("target-spec-import-fails", "target", lambda folder: "nonexistent_pkg_xyz.models:Model()", 3),
        Case("target-spec-malformed", "target", lambda folder: "torch.nn:Linear(784, 10", 3),
    ]

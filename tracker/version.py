"""This build's version: the package's release number (tracker.__version__, semantic versioning) and, where
known, the commit it was built from (TRACKER_COMMIT, set by an image build, or the git checkout the package
runs from). Shown by `tracker --version`, /healthz, /metrics (tracker_build_info), the console footer, the
daemon's first log line, and recorded in the database with every migration it applies."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from tracker import __version__

VERSION = __version__


@functools.cache
def commit() -> str | None:
    given = os.environ.get("TRACKER_COMMIT", "").strip()
    if given:
        return given[:12]
    source = Path(__file__).resolve().parent.parent
    if not (source / ".git").exists():
        return None  # an installed package: the commit is not known
    try:
        out = subprocess.run(["git", "-C", str(source), "rev-parse", "--short=7", "HEAD"], capture_output=True,
                             text=True, timeout=2)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def describe() -> str:
    """"0.2.0" or "0.2.0 (a1b2c3d)"."""
    sha = commit()
    return f"{VERSION} ({sha})" if sha else VERSION

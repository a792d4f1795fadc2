"""Removing events: a whole site's folders when the site is deleted."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pagepulse.lake.layout import site_dir


def delete_site_events(events_dir: Path, site_id: int) -> bool:
    """Delete every file of the site. Renames the folder first so that a crash midway
    never leaves a half-deleted site visible to readers. Returns whether anything existed."""
    folder = site_dir(events_dir, site_id)
    if not folder.exists():
        return False
    doomed = folder.with_name(f".deleting-{folder.name}-{os.getpid()}")
    os.replace(folder, doomed)
    shutil.rmtree(doomed, ignore_errors=True)
    return True

"""Make the collection importable as ansible_collections.mailsec.mx without installing it,
and the lab code as ``lab.mxlab``."""

import os
import pathlib
import sys

_ROOT = pathlib.Path(__file__).resolve().parents[1]
_COLLECTIONS = _ROOT / ".cache" / "collections"
_LINK = _COLLECTIONS / "ansible_collections" / "mailsec" / "mx"

if not _LINK.exists():
    _LINK.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(_ROOT, _LINK)
for _path in (_COLLECTIONS, _ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Providers whose zone is a text file the user keeps in git (a BIND zone file, an octoDNS YAML config).

Written once here: one path per zone, reading the file as it is (bytes kept exactly, line endings too), the
file's diff for diff mode, validation of the new text before anything is written (in check mode too, so a
check run reports what a real run would refuse), and an atomic replace that fails instead of overwriting
when the file changed since it was read. A subclass only parses the RRsets it is asked for (``parse``),
renders the changed text (``render``) and validates it (``validate``).
"""

from __future__ import annotations

import os
import tempfile

from ansible_collections.mailsec.mx.plugins.module_utils._recordset import Provider, ProviderError, RecordSetError, check_option

# Bytes are kept as they are: a file in another encoding round-trips unchanged, only our lines are ASCII.
ENCODING = "utf-8"
ERRORS = "surrogateescape"


class TextFileProvider(Provider):
    """A zone per file: ``settings`` is {zone: {"path": ...}} as run_module passes it (zone_options=("path",))."""

    #: What the file is, for messages ("zone file", "octoDNS config").
    what = "file"
    #: What a new file must hold at least, for the message about a missing one.
    empty = "its first records"

    def __init__(self, settings):
        self.paths = {}
        for zone, options in settings.items():
            path = options.get("path")
            if not isinstance(path, str) or not path:
                raise RecordSetError("zone %s: path is required (the %s of the zone)" % (zone, self.what))
            check_option("path", path)
            self.paths[zone] = os.path.expanduser(path)
        self.texts = {}
        self._rendered = {}

    # --- what a subclass writes ---------------------------------------------------------------------------

    def parse(self, zone, text, keys):
        """{(name, type): RecordSet or None} for every key, as ``text`` holds them; ProviderError for a file it
        cannot edit safely."""
        raise NotImplementedError

    def render(self, zone, text, changes):
        """``text`` with ``changes`` made and nothing else changed."""
        raise NotImplementedError

    def validate(self, zone, path, text):
        """Raise ProviderError when ``text`` (the file about to replace ``path``) is not valid; it is not written yet."""

    # --- the Provider interface -----------------------------------------------------------------------------

    def read(self, zone, keys):
        path = self.paths[zone]
        self.texts[zone] = text = read_file(path, self.what, self.empty)
        return self.parse(zone, text, keys)

    def preview(self, zone, changes):
        if not changes:
            return {"before": "", "after": "", "before_header": self.paths[zone], "after_header": self.paths[zone]}
        return {"before": self.texts[zone], "after": self.new_text(zone, changes),
                "before_header": self.paths[zone], "after_header": self.paths[zone]}

    def apply(self, zone, changes, unchanged=()):
        replace_file(self.paths[zone], self.texts[zone], self.new_text(zone, changes), self.what)

    def new_text(self, zone, changes):
        """The rendered and validated text for ``changes`` from the last read; rendered once per read and changes."""
        base = self.texts[zone]
        cached = self._rendered.get(zone)
        if cached is not None and cached[0] is base and cached[1] == changes_key(changes):
            return cached[2]
        text = self.render(zone, base, changes)
        self.validate(zone, self.paths[zone], text)
        self._rendered[zone] = (base, changes_key(changes), text)
        return text


def changes_key(changes):
    return tuple((change.key, change.before, change.after) for change in changes)


def read_file(path, what="file", empty="its first records"):
    """The file's text, bytes kept exactly; ProviderError saying what is wrong (missing, a directory, unreadable)."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode(ENCODING, ERRORS)
    except FileNotFoundError:
        raise ProviderError("the %s %s does not exist; create it first (with %s)" % (what, path, empty)) from None
    except IsADirectoryError:
        raise ProviderError("the %s %s is a directory; give the file's path" % (what, path)) from None
    except OSError as exc:
        raise ProviderError("cannot read the %s %s: %s" % (what, path, exc.strerror or exc)) from None


def replace_file(path, expected, text, what="file"):
    """Replace ``path`` with ``text`` atomically, if it still holds ``expected``; ProviderError otherwise.

    The new file is written and synced beside the old one (same file system, so the rename is atomic), with the
    old file's mode and owner; right before the rename the file is read again, and if someone changed it since
    it was read (an editor, a git pull) the run fails and the file is left as they made it. A symbolic link is
    followed: the file it points to is replaced and the link stays (as lineinfile does).
    """
    path = os.path.realpath(path)
    directory = os.path.dirname(path)
    try:
        status = os.stat(path)
        descriptor, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".mailsec", dir=directory)
    except OSError as exc:
        raise ProviderError("cannot write the %s %s: %s; nothing was changed" % (what, path, exc.strerror or exc)) from None
    try:
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(text.encode(ENCODING, ERRORS))
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, status.st_mode & 0o7777)
            try:
                os.chown(temporary, status.st_uid, status.st_gid)
            except PermissionError:
                pass  # not root and not the owner: the file becomes ours, as Ansible's own atomic_move leaves it

        except OSError as exc:
            raise ProviderError("cannot write the %s %s: %s; nothing was changed" % (what, path, exc.strerror or exc)) from None
        if read_file(path, what) != expected:
            raise ProviderError("someone changed the %s %s since it was read; nothing was changed, run again" % (what, path))
        try:
            os.replace(temporary, path)
        except OSError as exc:
            raise ProviderError("cannot replace the %s %s: %s; nothing was changed" % (what, path, exc.strerror or exc)) from None
        temporary = None
        _sync_directory(directory)
    finally:
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass


def _sync_directory(directory):
    """Make the rename durable; a file system that cannot sync a directory is not an error."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)

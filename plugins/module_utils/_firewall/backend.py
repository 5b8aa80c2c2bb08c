# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The interface every firewall backend implements, and what they share.

A backend only does I/O: it renders a spec (any kind: see spec.py) into its tool's language, reads the live state
back, checks and loads a change atomically, and persists it for boot.  It never asks which kind it serves: the
spec says which counters, sets and rules there are.  ``converge`` (common.py) drives it the same way for every kind.
"""

from __future__ import annotations

import tempfile

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import FirewallError
from ansible_collections.mailsec.mx.plugins.module_utils._traps import carry


class Backend:
    """One firewall (named ``name``, of spec class ``kind``) in one backend.

    ``run(args, data=None)`` runs a command and returns (rc, stdout, stderr), like AnsibleModule.run_command.
    """

    # The backend's name (the module's ``backend`` option) and the commands it needs on the host.
    name = ""
    tools = ()
    # How many words of a failed command its error message shows (None: all of them).
    words_shown = None
    # How many ports one rule can guard (None: any number).
    max_ports = None

    def __init__(self, run, name, kind):
        self.run = run
        self.firewall = name
        self.kind = kind
        self.warnings = []

    def check(self, spec, persist):
        """Raise FirewallError for what would fail half-way through a change; called before anything changes."""
        self.check_ports(spec.ports)

    @classmethod
    def check_ports(cls, ports):
        """Raise FirewallError when the backend cannot guard that many ports (also checked on the controller)."""
        if cls.max_ports is not None and len(ports) > cls.max_ports:
            raise FirewallError("the %s backend takes at most %s ports (multiport); use nftables" % (cls.name, cls.max_ports))

    def wanted(self, spec):
        """The ``Snapshot`` the host should have for ``spec``, as ``current()`` would read it back."""
        raise NotImplementedError

    def current(self):
        """The live state (a ``LiveState``: snapshot, counters, timed entries, prefixes, fill), or None if absent."""
        raise NotImplementedError

    def apply(self, spec, live):
        """Load ``spec`` atomically; ``live`` (current(), or None) gives the counters and memory to carry over."""
        raise NotImplementedError

    def remove(self):
        """Remove everything this firewall added; nothing else."""
        raise NotImplementedError

    def persist(self, spec, check_mode):
        """Keep ``spec`` across reboots (None: remove our boot files); return the paths and services changed."""
        raise NotImplementedError

    # --- shared ---------------------------------------------------------------------------------------------

    def _command(self, args, data=None):
        rc, out, err = self.run(args, data=data)
        if rc != 0:
            raise FirewallError("%s failed: %s" % (" ".join(args[:self.words_shown]), (err or out).strip()))
        return out

    def _load_checked(self, text, suffix, check, load):
        """Write ``text`` to a temporary file, run ``check(path)`` and, only if it passed, ``load(path)``."""
        with tempfile.NamedTemporaryFile("w", prefix="mailsec-", suffix=suffix, encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            self._command(check(handle.name))
            self._command(load(handle.name))


def carried(remembered, timed_set, render):
    """Remembered elements of a timed set, as the backend writes them back into a set with ``timed_set``'s timeout
    and prefixes (see _traps.carry); ``render(address, seconds left, packets or None)`` gives one element's text."""
    return [render(address, left, packets) for address, left, packets in carry(remembered, timed_set.timeout, timed_set.prefixes)]

# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewall core: one spec class per kind of firewall over one written backend interface.

- ``spec.py``: ``FirewallSpec``, the base of every kind, and the options all kinds share (``COMMON_OPTIONS``).
- ``dead_primary.py``, ``trap.py``, ``live.py``: the kinds; each validates its options and describes its rules.
- ``backend.py``: ``Backend``, the interface; ``nftables.py`` and ``iptables.py`` implement it and only do I/O.
- ``common.py``: validation helpers, snapshots, ``converge`` (check mode, diff, idempotence), files, the SSH guard.
- ``host.py``: what a firewall module does on the host (open a backend, converge, bring addresses up).

To add a kind: a module with a ``FirewallSpec`` subclass (its ``options``, ``counters``, timed sets and rules for
both backends), a thin module and action plugin naming it, and its tests.  See docs/architecture.md.
"""

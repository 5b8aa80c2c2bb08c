# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of mailsec.mx.mx_live_firewall: options validated (plugin_utils/_firewall_action)."""

from __future__ import annotations

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.live import LiveSpec
from ansible_collections.mailsec.mx.plugins.plugin_utils._firewall_action import FirewallAction


class ActionModule(FirewallAction):
    kind = LiveSpec

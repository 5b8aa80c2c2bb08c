"""One stand-in for the commands a module runs on a managed host, for every unit test of the firewall code.

``FakeRun`` is called like AnsibleModule.run_command (or a backend's ``run``): it records every command and the
data given on stdin, reads the temporary files given to ``nft -f`` and ``*-restore`` while the command runs, and
answers from ``replies`` by the longest matching command prefix (else success with no output).  ``patch_module``
makes AnsibleModule itself use it, with ``tools`` as the commands that exist on the host.
"""

from ansible.module_utils.basic import AnsibleModule

TOOLS = ("nft", "iptables", "ip6tables", "ipset", "ip")


class FakeRun:
    def __init__(self, replies=None, tools=TOOLS):
        self.replies = dict(replies or {})
        self.tools = set(tools)
        self.commands = []
        self.data = []
        # (whether it was a check run, the file's text) of each nft -f / *-restore.
        self.loaded = []
        self.restored = []
        self.warnings = []

    def __call__(self, args, data=None, **kwargs):
        args = list(args)
        self.commands.append(args)
        if data is not None:
            self.data.append(data)
        if args[0] == "nft" and "-f" in args:
            with open(args[-1], encoding="utf-8") as handle:
                self.loaded.append((args[1] == "-c", handle.read()))
        if args[0].endswith("-restore"):
            with open(args[-1], encoding="utf-8") as handle:
                self.restored.append((args[0], "--test" in args, handle.read()))
        for length in range(len(args), 0, -1):
            if tuple(args[:length]) in self.replies:
                return self.replies[tuple(args[:length])]
        return 0, "", ""

    def ran(self, tool):
        return [command for command in self.commands if command[0] == tool]


def patch_module(monkeypatch, fake):
    """Make AnsibleModule run commands through ``fake``, find only its tools, and record warnings there."""
    monkeypatch.setattr(AnsibleModule, "get_bin_path",
                        lambda module, tool, *args, **kwargs: "/usr/sbin/" + tool if tool in fake.tools else None)
    monkeypatch.setattr(AnsibleModule, "run_command", lambda module, args, **kwargs: fake(args, **kwargs))
    # Recorded here: once controller code is imported (the action plugin tests), module warnings go to Display instead.
    monkeypatch.setattr(AnsibleModule, "warn", lambda module, warning, **kwargs: fake.warnings.append(warning))
    return fake

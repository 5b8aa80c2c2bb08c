"""Spec builders shared by the lab.mxlab unit tests."""


def spec(**overrides):
    base = {
        "name": "dp",
        "bridge_addresses": ["203.0.113.1/24", "2001:db8:113::1/64"],
        "hosts": [
            {"name": "dead", "addresses": ["203.0.113.10/24", "2001:db8:113::10/64"],
             "extra_addresses": ["203.0.113.11/24"]},
            {"name": "client", "addresses": ["203.0.113.20/24"]},
        ],
    }
    base.update(overrides)
    return base


def host(name="a", addresses=("203.0.113.5/24",), **extra):
    return {"name": name, "addresses": list(addresses), **extra}

"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test fetches get-pip.py from a host that this project's machines
cannot reach.  The Makefile places this file in ansible-test's cache under
that script's name; it bootstraps pip from the interpreter's own ensurepip
wheel and then installs what ansible-test asked for from the package index.
"""

import subprocess
import sys


def main():
    args = sys.argv[1:]
    packages = [arg for arg in args if arg not in ("--no-setuptools", "--no-wheel")]
    if "--no-setuptools" not in args:
        packages.append("setuptools")
    if "--no-wheel" not in args:
        packages.append("wheel")
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"], stdout=subprocess.DEVNULL)
    sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--upgrade", "--force-reinstall"] + packages))


if __name__ == "__main__":
    main()

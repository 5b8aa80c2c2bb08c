"""The project's throwaway test hosts (see README.md), imported as modules and run with ``python -m``.

lab.mxlab: namespace hosts reachable over SSH (``python -m lab.mxlab up|down|exec``); lab.netns: a bare
throwaway namespace for tests and benchmarks; lab.demo and lab.matrix: the demo lab and the MTA matrix.
"""

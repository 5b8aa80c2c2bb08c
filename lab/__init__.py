"""The project's throwaway test hosts (see README.md); lab/mxlab.py is also a command."""

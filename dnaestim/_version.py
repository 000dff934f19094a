"""The version of dnaestim (one place, read by the package, its build and the files it writes)."""

__version__ = "0.1.0.dev0"

"""The version of recfreq (read by the build, stored in pickled estimators)."""

__version__ = "0.1.0.dev0"

"""Warnings and errors that recfreq defines."""

__all__ = ["InconsistentVersionWarning"]


class InconsistentVersionWarning(UserWarning):
    """An estimator pickled by another version of recfreq was loaded.

    Loading works when the fitted attributes did not change between the two
    versions, but nothing guarantees it: refit the model with the installed
    version, or install the version it was pickled with
    (``original_version``).

    Attributes
    ----------
    estimator_name : str
    current_version : str
        The installed recfreq.
    original_version : str
        The recfreq that pickled the estimator ("unknown" before 0.1, which
        did not record it).
    """

    def __init__(self, *, estimator_name, current_version, original_version):
        self.estimator_name = estimator_name
        self.current_version = current_version
        self.original_version = original_version

    def __str__(self):
        return (f"Loading a {self.estimator_name} pickled by recfreq {self.original_version} with recfreq "
                f"{self.current_version}. It may not work or give different results: refit it with this "
                f"version, or install recfreq {self.original_version}.")

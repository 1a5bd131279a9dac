"""The base of the errors a person can act on (bad input, a missing or refused file, a remote
that says no): `churn` prints its message on one line and exits 2, with no traceback. Modules
that must stand alone (the contract, the model loader, the pipeline graph) keep their own error
classes; `cli` names those.

A module of its own with no imports, so that recognising such an error costs nothing: the
modules that raise them load pandas, scikit-learn or DVC, seconds of start-up that a command
failing on its first argument should not pay to say so."""

from __future__ import annotations


class UserError(Exception):
    """A failure the message explains to the person who can fix it."""

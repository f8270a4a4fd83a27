"""The two ways an operation ends without its answer, each with a sentence that says what to do."""

from __future__ import annotations


class OpsError(Exception):
    """Its message is a sentence for the operator: what went wrong and what to do about it."""

    exit_code = 1


class TargetError(OpsError):
    """The stack cannot be reached or is not a labelbatch stack: wrong name, region, credentials, endpoint."""

    exit_code = 2


class OperationFailedError(OpsError):
    """The stack was reached, and the thing asked for did not happen."""

    exit_code = 1

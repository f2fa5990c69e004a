"""`CodedError`: an error with a machine-readable `code` beside its message (the service's
`error.code`). The library's, the worker's and the store's coded errors derive from it."""

from __future__ import annotations


class CodedError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

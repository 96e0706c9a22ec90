"""Typed errors that services raise and the web layer turns into messages or statuses."""


class LibraryError(Exception):
    """Base class: `str(error)` is a message fit to show a person."""

    status_code = 400


class NotFound(LibraryError):
    status_code = 404


class PermissionDenied(LibraryError):
    status_code = 403


class NotAuthenticated(LibraryError):
    status_code = 401


class InvalidInput(LibraryError):
    status_code = 422


class Conflict(LibraryError):
    status_code = 409


class TooManyAttempts(LibraryError):
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"Too many failed attempts. Try again in {retry_after} second"
            f"{'s' if retry_after != 1 else ''}."
        )


class Unavailable(LibraryError):
    """A service the library depends on (search engine, object store, virus scanner) did
    not answer in time or is known to be down: come back after `retry_after` seconds."""

    status_code = 503

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class UploadTooLarge(LibraryError):
    status_code = 413


class StorageFull(LibraryError):
    """The file store has no room left (its disk, or the user's quota on it): nothing of
    what was being written is kept."""

    status_code = 507

    def __init__(self) -> None:
        super().__init__(
            "The library's file store is full: the file was not kept. An administrator "
            "must free space (or give the store more) before files can be added."
        )

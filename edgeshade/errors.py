"""Errors raised by edgeshade.

Everything edgeshade raises on purpose derives from :class:`EdgeshadeError`, so a
script can catch one class. Errors about *input* (files, selectors, specs) are
:class:`ConfigError` and end a CLI run with exit code 3 and one line of text;
errors about a *site* never escape a fleet run: they become that site's state.

    EdgeshadeError
    ├── ConfigError            bad clouds.yaml / secure.yaml / spec, one line, names file+field
    │   └── SelectorError      a selector that matches no cloud, region or group
    ├── TaskError              a task name that is not registered, bad task parameters
    └── SiteError              raised inside a task to end the site in a chosen state
        ├── SiteUnreachable
        ├── SiteAuthFailed
        ├── SiteTimedOut
        ├── SiteCancelled
        └── MalformedResponse  the site answered garbage (state error)
"""

from __future__ import annotations


class EdgeshadeError(Exception):
    """Base class of every error edgeshade raises on purpose."""


class ConfigError(EdgeshadeError):
    """Bad input: the message is one line that names the file, cloud or field."""


class SelectorError(ConfigError):
    """A selector that resolves to no site."""


class TaskError(EdgeshadeError):
    """An unknown task or invalid task parameters."""


class SiteError(EdgeshadeError):
    """Ends the current site in ``state`` with ``reason`` (and an optional hint).

    Tasks raise this (or a subclass) when they know what went wrong; any other
    exception is classified by :func:`edgeshade.classify.classify`.
    """

    state = "error"

    def __init__(self, reason: str, *, hint: str | None = None, state: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.hint = hint
        if state is not None:
            self.state = state


class SiteUnreachable(SiteError):
    state = "unreachable"


class SiteAuthFailed(SiteError):
    state = "auth_failed"


class SiteTimedOut(SiteError):
    state = "timed_out"


class SiteCancelled(SiteError):
    state = "cancelled"


class MalformedResponse(SiteError):
    """The site answered, but not with data we can read (bad JSON, wrong shape)."""

    def __init__(self, reason: str, *, hint: str | None = None):
        super().__init__(
            reason,
            hint=hint or "the site returned data edgeshade cannot read; see it with --http-debug",
        )

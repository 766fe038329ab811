"""Errors and skip accounting for bad input data."""

import collections
import logging


class DataError(ValueError):
    """Bad input data. The message names the file, the video id and the field."""

    def __init__(self, reason, file=None, video=None, field=None):
        self.reason = reason
        self.file = None if file is None else str(file)
        self.video = video
        self.field = field
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if video is not None:
            where.append(f"video {video}")
        if field is not None:
            where.append(f"field '{field}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {reason}" if prefix else reason)


BAD_INPUT_POLICIES = ("error", "skip")  # --on_bad_input of every command


class IssueLog:
    """Counts what the loaders fixed or skipped, so that nothing is dropped silently.

    `policy` is 'error' (raise on the first bad item) or 'skip' (drop it, count it, log it).
    Fixes that the spec prescribes (timestamp clamping) are always counted, never raised.
    """

    def __init__(self, policy="error", max_logged=5):
        if policy not in BAD_INPUT_POLICIES:
            raise ValueError(f"on_bad_input must be 'error' or 'skip', got {policy!r}")
        self.policy = policy
        self.counts = collections.Counter()
        self.examples = collections.defaultdict(list)
        self._max_logged = max_logged

    def bad(self, kind, error):
        """Handle a bad item: raise under 'error', else count it (caller drops the item)."""
        if self.policy == "error":
            raise error
        self._count(kind, error)

    def fixed(self, kind, detail):
        self._count(kind, detail)

    def _count(self, kind, detail):
        self.counts[kind] += 1
        if len(self.examples[kind]) < self._max_logged:
            self.examples[kind].append(str(detail))
            logging.warning("%s: %s", kind, detail)

    def summary(self):
        if not self.counts:
            return "no input problems"
        return "; ".join(f"{k}: {v}" for k, v in sorted(self.counts.items()))

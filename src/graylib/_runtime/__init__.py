"""The running parts of a client, each knowing only what it is given (never the client).

- ``_kills``: the kill view (read, refresh, watcher thread, fork handling, staleness) -> ``KillState``;
- ``_served``: a snapshot with the kill state folded in, what the payment path reads;
- ``_claims``: claims and releases against a store;
- ``_tallies``: decisions by reason, counted on the payment path;
- ``_source``, ``_startup`` and ``_follow``: where versions of the rules come from, what to serve at
  start-up, and following them;
- ``_killwatch`` and ``_throttle``: a refresher thread, and a rate-limited warning.

``graylib._client`` wires them together; docs/architecture.md draws the whole map.
"""

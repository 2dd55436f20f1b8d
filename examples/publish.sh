#!/bin/sh
# Publishing the example rules to a shared store, the way an operator does it, on a SQLite store.
# Run from the repository root: sh examples/publish.sh [DIRECTORY]  (the store and files go there).
# On Redis, replace STORE with redis://HOST:6379/0.
set -eu
DIR="${1:-$(mktemp -d)}"
STORE="sqlite:///$DIR/graylib.db"

# Once, from one place: create the store (a SQLite file here) and mark it as graylib's.
graylib init-store --store "$STORE"

# The fleet already runs examples/rules.toml from files: the first revision is planned against that file.
graylib publish examples/rules.toml --running examples/rules.toml --store "$STORE" \
    --by li.wei --note "MKT-1234: the fleet moves from files to the store"

# The next change goes back one stage (narrowing: no approvals needed) under a new version.
sed -e 's/^stage = "small-cluster"/stage = "canary-node"/' \
    -e 's/^version = "2025-01-16.1"/version = "2025-01-16.2"/' examples/rules.toml > "$DIR/next.toml"
graylib plan "$DIR/next.toml" --store "$STORE"
graylib publish "$DIR/next.toml" --store "$STORE" --by oncall --note "MKT-1240: back to the canary node"

# A one-command rollback: the text of revision 1 published again, as revision 3 (it widens back to the
# small cluster, and the text carries the two approvals that step needs).
graylib rollback --store "$STORE" --by li.wei --note "MKT-1241: canary looked fine"
graylib history --store "$STORE"
graylib show --store "$STORE" --revision 2 | head -3

# No client follows this store yet, so the fleet is empty (exit 0); a service would run
# graylib.Client.from_store(store, cluster=..., node=...) and appear here.
graylib fleet --store "$STORE"

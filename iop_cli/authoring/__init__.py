"""The rule authors' tools: lint, the pack's own tests, diff, documentation and the starter pack."""

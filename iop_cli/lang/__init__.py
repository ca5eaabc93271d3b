"""The condition language: one parser and checker, a typed tree, and one back end per target."""

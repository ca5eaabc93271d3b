"""The commands, one module per command group, and what they share (`_common`)."""

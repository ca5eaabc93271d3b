"""The intake interview: a pure state machine and the questionary prompts that drive it."""

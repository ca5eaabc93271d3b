"""The rule pack: its model, its YAML source with positions, its loader, its published shapes and the answers its
questions take."""

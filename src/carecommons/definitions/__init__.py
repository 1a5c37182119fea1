"""definitions layer (see DESIGN.md)."""

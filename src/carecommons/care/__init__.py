"""care layer (see DESIGN.md)."""

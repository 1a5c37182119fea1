"""stats layer (see DESIGN.md)."""

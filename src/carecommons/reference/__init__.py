"""reference layer (see DESIGN.md)."""

"""governance layer (see DESIGN.md)."""

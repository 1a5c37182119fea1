"""synth layer (see DESIGN.md)."""

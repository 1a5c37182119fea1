"""Route modules; each exposes `router` and optionally `NAV` (see web/routers.py)."""

"""The definitions language (definitions.model), the London library (definitions.library) and local
overrides (definitions.overrides). Nothing here touches a database: engines read these trees."""

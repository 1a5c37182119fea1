"""Canonical schemas, organisation hierarchy, dates and errors. Imports nothing of ours."""

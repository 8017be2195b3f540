"""Revisions of the result store schema, oldest first."""

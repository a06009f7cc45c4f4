"""Repositories: take a connection inside a unit of work, read and write rows, never commit."""

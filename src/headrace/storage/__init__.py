"""Dataset bytes: Delta Lake tables in the warehouse (a folder or an object store)."""

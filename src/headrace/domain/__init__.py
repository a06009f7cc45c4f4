"""Pure rules of headrace: no I/O, no frameworks."""

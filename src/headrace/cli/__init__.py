"""The ``headrace`` command. Heavy libraries are imported inside the commands that use them."""

"""Commands that drive a headrace server over its API (``headrace login``, ``pipelines``,
``runs``, ``datasets``, ``keys``). They import the client and rich only when they run."""

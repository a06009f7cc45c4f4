"""Request and response bodies of the HTTP API: shared by the server (api/) and the client."""

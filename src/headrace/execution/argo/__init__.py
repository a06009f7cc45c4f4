"""The Argo Workflows backend: pure manifest rendering, and later the server client."""

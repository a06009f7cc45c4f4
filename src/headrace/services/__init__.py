"""Use cases: each opens one unit of work and calls the domain and the repositories."""

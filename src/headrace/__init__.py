"""headrace: data pipelines as versioned SQL steps over versioned Delta datasets."""

__version__ = "0.1.0"

"""childprotect-api: the backend of the rural minor-protection network."""

__version__ = "0.1.0"

"""The package's version, in a leaf module that any layer may import (the top-level package imports the API)."""

__version__ = "0.1.0"

"""genlab: small generative image models and seq2seq arithmetic, trained, measured and explained."""

from genlab.core.errors import GenlabError

# the one place the version is written: pyproject.toml reads it from here ([tool.setuptools.dynamic])
__version__ = "0.1.0"
__all__ = ["GenlabError", "__version__"]

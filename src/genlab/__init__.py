"""genlab: small generative image models and seq2seq arithmetic, trained, measured and explained."""

from genlab.core.errors import GenlabError

__version__ = "0.1.0"
__all__ = ["GenlabError", "__version__"]

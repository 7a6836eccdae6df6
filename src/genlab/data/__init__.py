"""Data sources (MNIST, CryptoPunks, user images) and datasets built from them.

`load_images(source, size, channels) -> ImageSet` is the one entry point for image data;
`load_mnist` and `load_punks` give the raw named sources with their own metadata.
"""

from genlab.data.images import ImageSet, load_images

__all__ = ["ImageSet", "load_images"]

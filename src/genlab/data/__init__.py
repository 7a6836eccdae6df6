"""Data sources (MNIST, CryptoPunks, user images) and datasets built from them."""

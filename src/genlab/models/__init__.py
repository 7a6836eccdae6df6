"""nn.Modules only: conv/deconv builders, autoencoders and the GAN (no training, CLI or plotting here)."""

"""Training infrastructure shared by every model: run directories, seeding, devices, progress."""

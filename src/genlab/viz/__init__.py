"""Figures: image grids, strips, curves and maps, written as PNG files."""

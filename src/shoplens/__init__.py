"""ShopLens: image recognition for e-commerce platforms."""

__version__ = "0.1.0"

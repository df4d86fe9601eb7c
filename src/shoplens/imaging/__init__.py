"""Images in: safe decoding of untrusted bytes, preprocessing to model input, training augmentation."""

from shoplens.imaging.augment import AugmentConfig, augment_batch
from shoplens.imaging.decode import (
    ACCEPTED_FORMATS,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PIXELS,
    declared_size,
    decode_image,
    flatten_alpha,
    read_image_file,
    sniff_format,
)
from shoplens.imaging.preprocess import PreprocessConfig, image_to_array, images_to_batch, normalize

__all__ = [
    "ACCEPTED_FORMATS",
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PIXELS",
    "AugmentConfig",
    "PreprocessConfig",
    "augment_batch",
    "declared_size",
    "decode_image",
    "flatten_alpha",
    "image_to_array",
    "images_to_batch",
    "normalize",
    "read_image_file",
    "sniff_format",
]

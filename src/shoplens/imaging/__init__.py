"""Images in: safe decoding of untrusted bytes and preprocessing to model input (numpy, Pillow and OpenCV).

Training augmentation works on torch tensors: import it from `shoplens.imaging.augment`.
"""

from shoplens.imaging.decode import (
    ACCEPTED_FORMATS,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    declared_size,
    decode_image,
    decode_whole_and_seen,
    flatten_alpha,
    read_image_bytes,
    read_image_file,
    sniff_format,
)
from shoplens.imaging.preprocess import (
    PreprocessConfig,
    image_to_array,
    images_to_batch,
    images_to_inputs,
    normalize,
    read_image,
)

__all__ = [
    "ACCEPTED_FORMATS",
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "PreprocessConfig",
    "declared_size",
    "decode_image",
    "decode_whole_and_seen",
    "flatten_alpha",
    "image_to_array",
    "images_to_batch",
    "images_to_inputs",
    "normalize",
    "read_image",
    "read_image_bytes",
    "read_image_file",
    "sniff_format",
]

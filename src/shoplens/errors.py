"""Errors that carry a message meant for the person who caused them, and how the CLI and the API report them."""


class ShopLensError(Exception):
    """Base class: a user-facing problem (bad input, missing data), never a bug."""

    exit_code = 1  # the CLI's exit status
    http_status = 400  # the API's answer
    code = "bad_request"  # the API's problem code (one registered for http_status; else the status's default)


class DataNotFoundError(ShopLensError):
    """A dataset could not be found in any of the places looked at."""

    exit_code = 2


class DataFormatError(ShopLensError):
    """A data file exists but is corrupt or not what it claims to be."""

    exit_code = 2


class ImageError(ShopLensError):
    """An image could not be accepted; subclasses say why."""

    exit_code = 2


class UnsupportedFormatError(ImageError):
    """The bytes are not one of the accepted image formats."""

    http_status = 415
    code = "unsupported_image_format"


class ImageTooLargeError(ImageError):
    """The image declares more pixels (or bytes or frames) than allowed."""

    http_status = 413
    code = "image_too_large"


class AspectRatioError(ImageTooLargeError):
    """The image declares one side absurdly long for the other (a 1 x 30,000,000 strip)."""

    http_status = 422


class CorruptImageError(ImageError):
    """The bytes claim an accepted format but cannot be decoded (truncated, zero-sized, broken)."""

    http_status = 400
    code = "corrupt_image"


class BundleError(ShopLensError):
    """A model bundle is missing, incomplete or inconsistent."""

    exit_code = 2
    http_status = 422
    code = "invalid_model_bundle"


class DeviceUnavailableError(ShopLensError):
    """The device asked for (e.g. cuda) is not usable on this machine."""

    exit_code = 2
    http_status = 503


class VersionNotFoundError(BundleError):
    """No model version of that name exists in the models directory."""

    http_status = 404
    code = "not_found"


class NotFoundError(ShopLensError):
    """The thing asked for does not exist."""

    exit_code = 2
    http_status = 404
    code = "not_found"


class ForbiddenError(ShopLensError):
    """The caller may not do this (for example change another merchant's product)."""

    exit_code = 2
    http_status = 403
    code = "forbidden"


class CatalogInputError(ShopLensError):
    """A product, image or campaign that cannot enter the catalogue as given."""

    exit_code = 2
    http_status = 422
    code = "validation_error"


class ServiceUnavailableError(ShopLensError):
    """The service cannot answer now through no fault of the request (its keys file is unreadable, ...)."""

    http_status = 503


class ConflictError(ShopLensError):
    """The request clashes with what exists (a reused idempotency key with another body, a duplicate sku)."""

    exit_code = 2
    http_status = 409
    code = "conflict"

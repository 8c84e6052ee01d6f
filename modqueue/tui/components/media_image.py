"""Decoding and protecting an image for the review screen, in memory only (Pillow).

Called from a thread worker: nothing here touches a widget, and nothing is written to
disk. `prepare_image` decodes the fetched bytes once (first frame, bounded size) and
returns both the protected picture the reviewer sees first and the clear one `r`
reveals.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFilter, ImageOps

from modqueue.guidelines import MediaView

__all__ = ["MAX_PIXELS", "MAX_SIDE", "PreparedImage", "prepare_image", "protect"]

MAX_SIDE = 640
"""Longest side kept after decoding, in pixels: enough for Sixel in a review pane."""

MAX_PIXELS = 40_000_000
"""A bigger image (width x height, as declared in its header) is refused undecoded."""


@dataclass(frozen=True, slots=True, repr=False)
class PreparedImage:
    """One decoded image: `protected` (as first shown, under `view`) and `clear`."""

    view: MediaView
    protected: Image.Image
    clear: Image.Image

    def __repr__(self) -> str:
        return f"PreparedImage({self.view}, {self.clear.width}x{self.clear.height})"


def protect(image: Image.Image, view: MediaView) -> Image.Image:
    """`image` under `view`: `clear` unchanged, `greyscale` without colour, `blurred`
    greyscale and blurred so that no detail is left (`hidden` is never drawn: the
    caller shows nothing; here it is blurred too, as a safe fallback)."""
    if view is MediaView.CLEAR:
        return image
    grey = ImageOps.grayscale(image).convert("RGB")
    if view is MediaView.GREYSCALE:
        return grey
    # Shrink, blur, grow back: strong enough that faces and text are gone at any size.
    small = grey.resize((max(1, grey.width // 16), max(1, grey.height // 16)), Image.Resampling.BOX)
    small = small.filter(ImageFilter.GaussianBlur(radius=1.5))
    return small.resize(grey.size, Image.Resampling.BILINEAR).filter(
        ImageFilter.GaussianBlur(radius=4)
    )


def prepare_image(content: bytes, view: MediaView) -> PreparedImage:
    """Decode `content` (the first frame of an animation), shrink it to `MAX_SIDE` and
    protect it under `view`.

    Raises `ValueError` naming the problem for bytes that are not a readable image or an
    image over `MAX_PIXELS`.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(content))
            width, height = opened.size
            if width * height > MAX_PIXELS:
                raise ValueError(
                    f"image is {width}x{height} pixels, over the {MAX_PIXELS:,}-pixel limit"
                )
            opened.draft("RGB", (MAX_SIDE, MAX_SIDE))
            opened.seek(0)
            image = ImageOps.exif_transpose(opened.convert("RGB"))
    except ValueError:
        raise
    except (OSError, SyntaxError, Image.DecompressionBombError, Warning) as exc:
        raise ValueError(f"not a readable image ({type(exc).__name__}: {exc})") from None
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    return PreparedImage(view=view, protected=protect(image, view), clear=image)

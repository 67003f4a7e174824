"""Tiny real media files for fake vendor servers: a PNG made with Pillow, an MP4 made with PyAV."""

from __future__ import annotations

import functools
import io

import av
import numpy as np
from PIL import Image


@functools.cache
def tiny_png(width: int = 16, height: int = 16) -> bytes:
    """A real, decodable RGB PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (32, 96, 160)).save(buffer, format="PNG")
    return buffer.getvalue()


@functools.cache
def tiny_mp4(frames: int = 4, size: int = 32) -> bytes:
    """A real H.264 (or MPEG-4 part 2 where x264 is missing) MP4 of a few frames."""
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream(codec, rate=8)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            pixels = np.full((size, size, 3), index * 50 % 256, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()

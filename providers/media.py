"""Identifying, checking and converting media files from their bytes (shared/RELIABILITY.md section 5).

Every decision here is made from the bytes: magic numbers first, then Pillow (images) or PyAV
(audio/video) actually decoding the file. A filename or a declared content type is never trusted.
Anything wrong with a file is a `MediaError` whose message names what is wrong, fit to show a user.
"""

from __future__ import annotations

import io
import warnings
from typing import Any, BinaryIO

from PIL import Image, ImageOps

from providers.base import MediaInfo

DEFAULT_MAX_PIXELS = 40_000_000  # below Pillow's own bomb threshold (~89 Mpx), so ours speaks first
IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/bmp": "BMP"}
# Sniffed content type -> (our format name, FFmpeg demuxer to force).
AV_FORMATS = {
    "video/mp4": ("mp4", "mov"),
    "video/quicktime": ("mov", "mov"),
    "video/webm": ("webm", "matroska"),
    "audio/mp4": ("m4a", "mov"),
    "audio/mpeg": ("mp3", "mp3"),
    "audio/wav": ("wav", "wav"),
    "audio/ogg": ("ogg", "ogg"),
}
# The only types we store and serve, each decided by sniffing the bytes (shared/RELIABILITY.md §9):
# what the app makes and takes. Anything else from a vendor (HTML, SVG, a PDF) is refused, so
# vendor bytes are never served from our origin as something a browser would run.
ALLOWED_CONTENT_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/gif",
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "audio/wav",
        "audio/mpeg",
        "audio/mp4",  # M4A
        "audio/webm",
    }
)
VIDEO_CODECS = frozenset({"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "prores", "mjpeg"})
AUDIO_CODECS = frozenset(
    {"aac", "mp3", "mp3float", "vorbis", "opus", "flac", "alac"}
)  # plus every pcm_* (WAV)
EXTENSION_KINDS = {
    **dict.fromkeys(("png", "jpg", "jpeg", "webp", "bmp", "gif"), "image"),
    **dict.fromkeys(("mp4", "mov", "webm", "mkv", "m4v"), "video"),
    **dict.fromkeys(("mp3", "wav", "m4a", "ogg", "oga", "aac", "flac"), "audio"),
}
KIND_NAMES = {
    "image": "a PNG, JPEG, WEBP or BMP image",
    "video": "an MP4, MOV or WebM video",
    "audio": "an MP3, WAV, M4A or OGG audio file",
}


class MediaError(ValueError):
    """A file that is not what it claims to be, is damaged, or breaks a limit; the message says which."""


def sniff_content_type(data: bytes) -> str | None:
    """The content type the first bytes announce, or None when they match no format we know."""
    head = data[:64]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"BM") and len(head) >= 26 and head[14] in (12, 40, 52, 56, 64, 108, 124):
        # "BM" alone is too common a prefix; the DIB header size byte makes it a real BMP.
        return "image/bmp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in data[:64] else "video/x-matroska"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3") or (
        len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE6 in (0xE2, 0xE4, 0xE6)
    ):
        # ID3 tag, or an MPEG audio frame sync with layer bits set (layer III/II/I).
        return "audio/mpeg"
    return None


def allowed_content_type(data: bytes) -> str | None:
    """The sniffed content type of these bytes when it is one we store and serve, else None."""
    content_type = sniff_content_type(data)
    return content_type if content_type in ALLOWED_CONTENT_TYPES else None


def kind_of(content_type: str | None) -> str | None:
    """ "image", "video" or "audio" for a content type, None for anything else."""
    if not content_type:
        return None
    major = content_type.split("/", 1)[0]
    return major if major in ("image", "video", "audio") else None


def probe(
    data: bytes,
    *,
    filename: str = "",
    expected_kind: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = None,
    min_duration: float | None = None,
    max_duration: float | None = None,
) -> MediaInfo:
    """What the bytes are (decoded, not guessed); raises MediaError naming the problem.

    `filename` is never used to decide the type; a name whose extension promises another kind of
    file (an MP3 called .png) is refused, since the upload form that sent it expected that kind.
    `expected_kind` ("image", "video", "audio") refuses any other kind; the other limits are
    checked with `check_limits`.
    """
    if not data:
        raise MediaError("The file is empty")
    content_type = sniff_content_type(data)
    kind = kind_of(content_type)
    if content_type in IMAGE_FORMATS:
        info = _probe_image(data, content_type, max_pixels=max_pixels)
    elif content_type in AV_FORMATS:
        if max_bytes is not None and len(data) > max_bytes:
            # Before decoding anything: a huge file is refused on its size alone.
            check_limits(_placeholder(kind or "audio", len(data)), max_bytes=max_bytes)
        info = _probe_av(data, content_type)
    else:
        wanted = KIND_NAMES.get(expected_kind or "", "a supported image, video or audio file")
        found = f" (it looks like {_describe(content_type)})" if content_type else ""
        raise MediaError(f"This file is not {wanted}{found}")

    if expected_kind is not None and info.kind != expected_kind:
        raise MediaError(f"This file is not {KIND_NAMES[expected_kind]} (it is {_describe_info(info)})")
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    claimed = EXTENSION_KINDS.get(extension)
    if claimed is not None and claimed != info.kind:
        raise MediaError(f"This file is named .{extension} but it is {_describe_info(info)}")
    check_limits(info, max_bytes=max_bytes, min_duration=min_duration, max_duration=max_duration)
    return info


def check_limits(
    info: MediaInfo,
    *,
    max_bytes: int | None = None,
    min_duration: float | None = None,
    max_duration: float | None = None,
    min_side: int | None = None,
    max_side: int | None = None,
    max_pixels: int | None = None,
) -> None:
    """Raise MediaError naming the first limit the file breaks."""
    label = info.kind.capitalize()
    if max_bytes is not None and info.size_bytes > max_bytes:
        raise MediaError(f"{label} file is {_mb(info.size_bytes)}; the limit is {_mb(max_bytes)}")
    if info.duration is not None:
        if max_duration is not None and info.duration > max_duration:
            raise MediaError(f"{label} is {info.duration:.1f} s long; the limit is {max_duration:g} s")
        if min_duration is not None and info.duration < min_duration:
            raise MediaError(f"{label} is {info.duration:.1f} s long; the minimum is {min_duration:g} s")
    if info.width and info.height:
        size = f"{info.width}×{info.height} pixels"
        if max_pixels is not None and info.width * info.height > max_pixels:
            raise MediaError(f"{label} is {size}; the limit is {max_pixels:,} pixels")
        if max_side is not None and max(info.width, info.height) > max_side:
            raise MediaError(f"{label} is {size}; the longest side may be at most {max_side} pixels")
        if min_side is not None and min(info.width, info.height) < min_side:
            raise MediaError(f"{label} is {size}; the shortest side must be at least {min_side} pixels")


def _probe_image(data: bytes, content_type: str, *, max_pixels: int) -> MediaInfo:
    fmt = IMAGE_FORMATS[content_type]
    name = "JPEG" if fmt == "JPEG" else fmt.upper()
    # Read the header with the format's own parser (no pixel data, no bomb check yet) for the size.
    Image.init()
    factory = Image.OPEN[fmt][0]
    try:
        header = factory(io.BytesIO(data), "")
        width, height = header.size
    except Exception as exc:  # Pillow raises many types on hostile headers: all mean "not a valid image"
        raise MediaError(f"The {name} is damaged or not really a {name} image") from exc
    if width <= 0 or height <= 0:
        raise MediaError(f"The {name} has no pixels")
    if width * height > max_pixels:
        raise MediaError(f"Image is {width}×{height} pixels; the limit is {max_pixels:,} pixels")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                image.verify()
            # verify() leaves the image unusable: reopen and decode every pixel.
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                image.load()
                has_alpha = _has_alpha(image)
                width, height = image.size
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise MediaError(f"Image is {width}×{height} pixels; the limit is {max_pixels:,} pixels") from exc
    except Exception as exc:
        if "truncated" in str(exc).lower():
            raise MediaError(f"The {name} is truncated") from exc
        raise MediaError(f"The {name} is damaged or not really a {name} image") from exc
    return MediaInfo(
        kind="image",
        format=fmt.lower(),
        content_type=content_type,
        size_bytes=len(data),
        width=width,
        height=height,
        has_alpha=has_alpha,
    )


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _probe_av(data: bytes | BinaryIO, content_type: str) -> MediaInfo:
    """`data`: the bytes, or a seekable binary file (a download on disk, read by FFmpeg in place)."""
    import av  # FFmpeg loads on first use, not on every import of this module

    fmt, demuxer = AV_FORMATS[content_type]
    label = fmt.upper()
    if isinstance(data, bytes | bytearray):
        source, size = io.BytesIO(data), len(data)
    else:
        source, size = data, data.seek(0, io.SEEK_END)
        data.seek(0)
    try:
        with av.open(source, format=demuxer) as container:
            video = next((s for s in container.streams.video if not _is_cover_art(s)), None)
            audio = next(iter(container.streams.audio), None)
            if video is None and audio is None:
                raise MediaError(f"The {label} file has no audio or video in it")
            stream = video if video is not None else audio
            codec = stream.codec_context.name
            allowed = VIDEO_CODECS if video is not None else AUDIO_CODECS
            if codec not in allowed and not codec.startswith("pcm_"):
                raise MediaError(f"The {label} file uses the {codec} codec, which is not supported")
            duration = _duration(container, stream)
            width = height = None
            fps = None
            if video is not None:
                width, height = video.codec_context.width, video.codec_context.height
                if video.average_rate:
                    fps = round(float(video.average_rate), 3)
            # Decode the first frame: a header that parses over a body that does not is still broken.
            if next(container.decode(stream), None) is None:
                raise MediaError(f"The {label} file has no decodable {'video' if video else 'audio'}")
    except MediaError:
        raise
    except Exception as exc:  # av.error.FFmpegError and friends on hostile input
        raise MediaError(f"The {label} file is damaged or not really {label}") from exc

    if video is not None:
        kind = "video"
        if fmt == "m4a":
            fmt, content_type = "mp4", "video/mp4"
    else:
        kind = "audio"
        if fmt in ("mp4", "mov"):
            fmt, content_type = "m4a", "audio/mp4"
        elif fmt == "webm":
            content_type = "audio/webm"
    if duration is None or duration <= 0:
        raise MediaError(f"The {label} file does not say how long it is")
    return MediaInfo(
        kind=kind,
        format=fmt,
        content_type=content_type,
        size_bytes=size,
        width=width,
        height=height,
        duration=round(duration, 3),
        fps=fps,
    )


def _is_cover_art(stream: Any) -> bool:
    # MP3s and M4As carry album art as a one-frame "video" stream.
    import av

    try:
        return bool(stream.disposition & av.stream.Disposition.attached_pic)
    except (AttributeError, TypeError):
        return False


def _duration(container: Any, stream: Any) -> float | None:
    import av

    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def _placeholder(kind: str, size: int) -> MediaInfo:
    return MediaInfo(kind=kind, format="", content_type="", size_bytes=size)


def _describe(content_type: str | None) -> str:
    names = {
        "image/gif": "a GIF image",
        "audio/flac": "FLAC audio",
        "video/x-matroska": "an MKV video",
        "audio/mpeg": "MP3 audio",
        "audio/wav": "WAV audio",
        "audio/ogg": "OGG audio",
    }
    return names.get(content_type or "", content_type or "unknown data")


def _describe_info(info: MediaInfo) -> str:
    if info.kind == "image":
        return f"a {info.format.upper()} image"
    if info.kind == "video":
        return f"a {info.format.upper()} video"
    return f"{info.format.upper()} audio"


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _open_image(data: bytes) -> Image.Image:
    """The image, checked by probe() first, with EXIF orientation applied."""
    info = probe(data, expected_kind="image")
    image = Image.open(io.BytesIO(data), formats=[IMAGE_FORMATS[info.content_type]])
    image.load()
    return ImageOps.exif_transpose(image) or image


def reencode_image(data: bytes) -> tuple[bytes, str]:
    """The image decoded and saved again without metadata (EXIF, GPS, comments); (bytes, content_type).

    PNG, JPEG and WEBP keep their format; BMP becomes PNG. Only the colour profile is kept.
    """
    image = _open_image(data)
    original = Image.open(io.BytesIO(data))
    fmt = original.format or "PNG"
    icc = original.info.get("icc_profile")
    extra: dict[str, Any] = {"icc_profile": icc} if icc else {}
    buffer = io.BytesIO()
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buffer, "JPEG", quality=92, optimize=True, **extra)
        return buffer.getvalue(), "image/jpeg"
    if fmt == "WEBP":
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        lossless = original.info.get("lossless", False)
        image.save(buffer, "WEBP", quality=90, lossless=bool(lossless), **extra)
        return buffer.getvalue(), "image/webp"
    if image.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    image.save(buffer, "PNG", optimize=False, **extra)
    return buffer.getvalue(), "image/png"


def make_thumbnail(data: bytes, max_side: int = 512) -> bytes:
    """A WebP no larger than max_side on its longest side, for galleries."""
    image = _open_image(data)
    image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=80, method=4)
    return buffer.getvalue()


def video_poster(data: bytes | BinaryIO) -> tuple[bytes, float, int, int]:
    """(PNG of the first frame, duration in seconds, width, height); raises MediaError.

    `data`: the bytes, or a seekable binary file (read in place, never loaded whole).
    """
    import av

    if isinstance(data, bytes | bytearray):
        info = probe(data, expected_kind="video")
        source = io.BytesIO(data)
    else:
        data.seek(0)
        content_type = sniff_content_type(data.read(64))
        if content_type not in AV_FORMATS:
            raise MediaError("This file is not a video")
        info = _probe_av(data, content_type)
        if info.kind != "video":
            raise MediaError(f"This file is not a video (it is {_describe_info(info)})")
        data.seek(0)
        source = data
    try:
        with av.open(source) as container:
            stream = next(s for s in container.streams.video if not _is_cover_art(s))
            frame = next(container.decode(stream), None)
            if frame is None:
                raise MediaError("The video has no frames")
            image = frame.to_image()
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError("The video could not be decoded") from exc
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue(), float(info.duration or 0.0), image.width, image.height

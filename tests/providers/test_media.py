from __future__ import annotations

import contextlib
import io
import struct
import wave
import zlib
from fractions import Fraction

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from providers.media import (
    MediaError,
    check_limits,
    make_thumbnail,
    probe,
    reencode_image,
    sniff_content_type,
    video_poster,
)

MB = 1024 * 1024


def image_bytes(fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB", **save: object) -> bytes:
    color = (200, 40, 40, 128) if mode == "RGBA" else (200, 40, 40)
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt, **save)
    return buffer.getvalue()


def wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(rate * seconds))
    return buffer.getvalue()


def mp3_bytes(frames: int = 40) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=22050)
        stream.layout = "mono"
        fmt = stream.codec_context.format.name
        dtype = {"s16p": np.int16, "s32p": np.int32, "fltp": np.float32}[fmt]
        for index in range(frames):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1152), dtype), format=fmt, layout="mono")
            frame.sample_rate = 22050
            frame.pts = index * 1152
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def mp4_bytes(seconds: int = 2, fps: int = 10, size: tuple[int, int] = (160, 96), fmt: str = "mp4") -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream("libx264" if fmt != "webm" else "libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(seconds * fps):
            pixels = np.full((size[1], size[0], 3), index * 5 % 255, np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG header claiming huge dimensions, with a tiny body (nothing huge is allocated)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


# -- images -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name", "content_type"),
    [
        ("PNG", "png", "image/png"),
        ("JPEG", "jpeg", "image/jpeg"),
        ("WEBP", "webp", "image/webp"),
        ("BMP", "bmp", "image/bmp"),
    ],
)
def test_it_identifies_valid_images(fmt: str, name: str, content_type: str) -> None:
    data = image_bytes(fmt, (64, 48))
    info = probe(data, filename="anything.bin")
    assert info.kind == "image"
    assert info.format == name
    assert info.content_type == content_type
    assert (info.width, info.height) == (64, 48)
    assert info.size_bytes == len(data)
    assert info.has_alpha is False


def test_it_reports_alpha() -> None:
    assert probe(image_bytes("PNG", mode="RGBA")).has_alpha is True
    assert probe(image_bytes("WEBP", mode="RGBA")).has_alpha is True


def test_it_refuses_a_png_header_followed_by_html() -> None:
    data = b"\x89PNG\r\n\x1a\n<html><script>alert(1)</script></html>" * 3
    with pytest.raises(MediaError, match="PNG is damaged"):
        probe(data)


def test_it_refuses_a_decompression_bomb_without_decoding_it() -> None:
    with pytest.raises(MediaError) as excinfo:
        probe(png_claiming(50_000, 50_000))
    assert "50000×50000" in str(excinfo.value)
    assert "limit" in str(excinfo.value)


def test_it_refuses_an_image_just_over_a_custom_pixel_cap() -> None:
    with pytest.raises(MediaError, match="64×48 pixels; the limit is 3,000 pixels"):
        probe(image_bytes("PNG", (64, 48)), max_pixels=3000)


def test_it_refuses_a_truncated_jpeg() -> None:
    # Noise keeps the entropy-coded data long, so half the file cuts well into the scan.
    noisy = Image.fromarray(np.random.default_rng(1).integers(0, 255, (256, 256, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    noisy.save(buffer, "JPEG", quality=95)
    data = buffer.getvalue()
    with pytest.raises(MediaError, match="The JPEG is truncated"):
        probe(data[: len(data) // 2])


def test_it_refuses_an_mp3_renamed_png() -> None:
    with pytest.raises(MediaError, match=r"named \.png but it is MP3 audio"):
        probe(mp3_bytes(), filename="holiday.png")


def test_it_refuses_the_wrong_kind_for_the_slot() -> None:
    with pytest.raises(MediaError, match="not a PNG, JPEG, WEBP or BMP image"):
        probe(mp3_bytes(), expected_kind="image")
    with pytest.raises(MediaError, match="not an MP3, WAV, M4A or OGG audio file"):
        probe(image_bytes("PNG"), expected_kind="audio")


@pytest.mark.parametrize(
    "data",
    [
        b"<!doctype html><html><body>hello</body></html>",
        b"%PDF-1.7\n" + b"0" * 100,
        b"\0" * 100,
    ],
)
def test_it_refuses_files_that_are_not_media(data: bytes) -> None:
    with pytest.raises(MediaError, match="This file is not a PNG, JPEG, WEBP or BMP image"):
        probe(data, expected_kind="image")


def test_it_refuses_gifs_even_though_they_are_images() -> None:
    with pytest.raises(MediaError, match="it looks like a GIF image"):
        probe(image_bytes("GIF"), filename="a.gif")


def test_it_refuses_an_empty_file() -> None:
    with pytest.raises(MediaError, match="empty"):
        probe(b"")


# -- audio and video ----------------------------------------------------------------------------


def test_it_identifies_a_valid_wav() -> None:
    info = probe(wav_bytes(3.0), filename="voice.wav", expected_kind="audio", min_duration=3, max_duration=30)
    assert info.kind == "audio" and info.format == "wav" and info.content_type == "audio/wav"
    assert info.duration == pytest.approx(3.0)
    assert info.width is None


def test_it_identifies_a_valid_mp3() -> None:
    info = probe(mp3_bytes(40))
    assert (info.kind, info.format, info.content_type) == ("audio", "mp3", "audio/mpeg")
    assert info.duration == pytest.approx(40 * 1152 / 22050, abs=0.1)


def test_it_identifies_a_valid_mp4() -> None:
    info = probe(mp4_bytes(seconds=2, fps=10, size=(160, 96)), filename="clip.mp4", expected_kind="video")
    assert (info.kind, info.format, info.content_type) == ("video", "mp4", "video/mp4")
    assert (info.width, info.height) == (160, 96)
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.fps == pytest.approx(10.0)


def test_it_identifies_a_valid_webm() -> None:
    info = probe(mp4_bytes(seconds=1, fmt="webm"))
    assert (info.kind, info.format, info.content_type) == ("video", "webm", "video/webm")


def test_it_refuses_audio_that_is_too_long() -> None:
    with pytest.raises(MediaError, match=r"Audio is 31\.0 s long; the limit is 30 s"):
        probe(wav_bytes(31.0), expected_kind="audio", min_duration=3, max_duration=30)


def test_it_refuses_audio_that_is_too_short() -> None:
    with pytest.raises(MediaError, match=r"Audio is 1\.0 s long; the minimum is 3 s"):
        probe(wav_bytes(1.0), min_duration=3)


def test_it_refuses_an_audio_file_over_the_byte_cap() -> None:
    data = wav_bytes(16 * MB / 16000 + 1)  # 8 kHz 16-bit mono: 16 000 bytes a second
    assert len(data) > 16 * MB
    with pytest.raises(MediaError, match=r"Audio file is 16\.0 MB; the limit is 15\.0 MB"):
        probe(data, expected_kind="audio", max_bytes=15 * MB)


def test_it_refuses_a_truncated_mp4() -> None:
    data = mp4_bytes()
    with pytest.raises(MediaError, match="MP4"):
        probe(data[: len(data) // 3])


def test_check_limits_names_the_broken_pixel_limits() -> None:
    info = probe(image_bytes("PNG", (64, 48)))
    with pytest.raises(MediaError, match="at least 100 pixels"):
        check_limits(info, min_side=100)
    with pytest.raises(MediaError, match="at most 32 pixels"):
        check_limits(info, max_side=32)
    check_limits(info, min_side=48, max_side=64, max_pixels=64 * 48)


# -- sniffing -----------------------------------------------------------------------------------


def test_it_sniffs_content_types_from_bytes() -> None:
    assert sniff_content_type(image_bytes("PNG")) == "image/png"
    assert sniff_content_type(image_bytes("JPEG")) == "image/jpeg"
    assert sniff_content_type(image_bytes("WEBP")) == "image/webp"
    assert sniff_content_type(image_bytes("BMP")) == "image/bmp"
    assert sniff_content_type(image_bytes("GIF")) == "image/gif"
    assert sniff_content_type(wav_bytes(0.1)) == "audio/wav"
    assert sniff_content_type(mp3_bytes(2)) == "audio/mpeg"
    assert sniff_content_type(mp4_bytes(1)) == "video/mp4"
    assert sniff_content_type(b"<html>") is None
    assert sniff_content_type(b"") is None


# -- conversions --------------------------------------------------------------------------------


def test_reencoding_strips_exif_and_keeps_the_format() -> None:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPS info
    source = image_bytes("JPEG", (80, 60), exif=exif.tobytes())
    assert b"SpyCam" in source
    data, content_type = reencode_image(source)
    assert content_type == "image/jpeg"
    assert b"SpyCam" not in data
    reopened = Image.open(io.BytesIO(data))
    assert reopened.format == "JPEG" and reopened.size == (80, 60)
    assert not reopened.getexif()


def test_reencoding_keeps_png_and_webp_and_turns_bmp_into_png() -> None:
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "secret location")
    data, content_type = reencode_image(image_bytes("PNG", mode="RGBA", pnginfo=text))
    assert content_type == "image/png" and b"secret location" not in data
    assert probe(data).has_alpha
    assert reencode_image(image_bytes("WEBP"))[1] == "image/webp"
    assert reencode_image(image_bytes("BMP"))[1] == "image/png"


def test_reencoding_refuses_what_probe_refuses() -> None:
    with pytest.raises(MediaError):
        reencode_image(png_claiming(50_000, 50_000))


def test_thumbnails_are_small_webps() -> None:
    thumb = make_thumbnail(image_bytes("PNG", (2000, 1000)), max_side=512)
    image = Image.open(io.BytesIO(thumb))
    assert image.format == "WEBP"
    assert image.size == (512, 256)


def test_the_video_poster_is_the_first_frame_as_png() -> None:
    poster, duration, width, height = video_poster(mp4_bytes(seconds=2, size=(160, 96)))
    image = Image.open(io.BytesIO(poster))
    assert image.format == "PNG" and image.size == (160, 96)
    assert (width, height) == (160, 96)
    assert duration == pytest.approx(2.0, abs=0.1)


def test_the_video_poster_refuses_non_video() -> None:
    with pytest.raises(MediaError):
        video_poster(wav_bytes(1.0))


# -- robustness ---------------------------------------------------------------------------------

MAGIC_PREFIXES = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"RIFF\x00\x00\x00\x00WEBP",
    b"RIFF\x00\x00\x00\x00WAVE",
    b"BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00",
    b"\x00\x00\x00\x18ftypisom",
    b"\x00\x00\x00\x18ftypM4A ",
    b"\x1a\x45\xdf\xa3webm",
    b"OggS",
    b"ID3",
    b"\xff\xfb",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(MAGIC_PREFIXES), body=st.binary(max_size=2048), filename=st.text(max_size=20))
def test_probe_raises_only_media_errors_on_arbitrary_bytes(prefix: bytes, body: bytes, filename: str) -> None:
    try:
        info = probe(prefix + body, filename=filename)
    except MediaError:
        return
    assert info.kind in ("image", "video", "audio")


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(min_value=1, max_value=400), flip=st.integers(min_value=0, max_value=255))
def test_probe_raises_only_media_errors_on_damaged_real_files(cut: int, flip: int) -> None:
    for data in (_SAMPLE_PNG, _SAMPLE_JPEG, _SAMPLE_WAV, _SAMPLE_MP4):
        damaged = bytearray(data[: max(1, len(data) - cut)])
        damaged[min(len(damaged) - 1, 20 + flip)] ^= 0xFF
        with contextlib.suppress(MediaError):
            probe(bytes(damaged))


_SAMPLE_PNG = image_bytes("PNG", (32, 32))
_SAMPLE_JPEG = image_bytes("JPEG", (32, 32))
_SAMPLE_WAV = wav_bytes(0.5)
_SAMPLE_MP4 = mp4_bytes(seconds=1, size=(64, 48))

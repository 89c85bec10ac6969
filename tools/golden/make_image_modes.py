#!/usr/bin/env python3
"""
make_image_modes.py -- golden data for how Pillow turns every image mode into
RGB, and what open_clip's CLIP eval transform then makes of it.

WHAT IT MAKES (in fixtures/image-modes/, or the folder given as argv[1])
    <name>.<png|jpg>   Small synthetic source images (odd sizes, landscape and
                       portrait, gradients + noise + hard edges), one per mode
                       or encoding: RGB, L, LA, RGBA, P (adaptive palette), P
                       with a tRNS index, P with per-entry tRNS alphas, P with
                       a palette shorter than its indices, "1", 4-bit L, 16-bit
                       L (Pillow "I;16"), 16-bit RGB, 16-bit LA, 16-bit RGBA,
                       grayscale / RGB / CMYK (Adobe) / YCCK JPEG, and an RGB
                       JPEG with EXIF orientation 6. Plus RGB PNGs whose
                       shorter side is below / equal to the transform size.
    <name>.rgb.bin     Image.open(path).convert("RGB") as raw uint8, H x W x 3,
                       row-major (what torchvision's default loader and saev's
                       datasets feed the transform; NO exif_transpose).
    <name>.crop.bin    open_clip's eval transform up to the uint8 crop, applied
                       to that RGB image: torchvision Resize(24, BICUBIC) on a
                       PIL image (shorter side -> 24, longer side
                       int(24 * long / short), truncated; rgb.resize((w, h),
                       Image.BICUBIC)) then CenterCrop(24) (top =
                       int(round((h - 24) / 2.0)), left likewise; Python round,
                       half to even). uint8, 24 x 24 x 3. Normalisation is
                       left out on purpose (plain float math, tested elsewhere).
    expected.json      One entry per image: file, format, the mode and size
                       Pillow opened it as, the rawmode of its decoder tile,
                       EXIF orientation, transparency info, the resize/crop
                       geometry and the .bin names + sha256. Also the versions
                       used and a few measured facts (see "facts").

    YCCK: Pillow cannot write YCCK JPEGs, so one is made by writing the wanted
    Y/Cb/Cr/K sample planes as a 4-channel JPEG with Pillow (which stores
    255 - value, Adobe convention) and setting the Adobe APP14 marker's
    transform byte from 0 (CMYK) to 2 (YCCK). The result is an ordinary YCCK
    JPEG: libjpeg converts it to CMYK on decode, and Pillow opens it as "CMYK".

    Every Pillow conversion used here is also recomputed with numpy from the
    raw decoded samples and asserted equal (see check_* below), so a run that
    finishes has verified the per-mode formulas for this Pillow version.

HOW TO RUN
    python3 -m venv /tmp/pilvenv
    /tmp/pilvenv/bin/pip install pillow==11.0.0 numpy
    /tmp/pilvenv/bin/python tools/golden/make_image_modes.py fixtures/image-modes

    Deterministic: fixed numpy seed, fixed encoder settings. (JPEG / zlib bytes
    depend on the bundled libjpeg-turbo / zlib versions; re-running with the
    same Pillow wheel reproduces the files byte for byte.)

RUN WITH
    Pillow 11.0.0 (libjpeg-turbo 3.0.4, zlib 1.2.13 as bundled in the
    manylinux wheel), numpy 2.4.6, CPython 3.11.7.
"""

import hashlib
import io
import json
import os
import struct
import sys
import warnings
import zlib

import numpy as np
import PIL
from PIL import Image, features

SIZE = 24  # transform size; same algorithm as 224
SEED = 20240611


# --------------------------------------------------------------------------
# synthetic content


def base_rgb(rng, w, h):
    """Gradients + noise + a hard-edged block, float in [0, 1]."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = x / max(w - 1, 1)
    g = y / max(h - 1, 1)
    b = 0.5 + 0.5 * np.sin((x + 2 * y) / 3.0)
    img = np.stack([r, g, b], axis=-1)
    img += rng.normal(0.0, 0.12, size=img.shape)
    # hard edges: a bright block and a dark stripe
    img[h // 4 : h // 2, w // 5 : w // 2, :] = [1.0, 0.9, 0.1]
    img[:, (2 * w) // 3 : (2 * w) // 3 + 2, :] = 0.0
    return np.clip(img, 0.0, 1.0)


def to_u8(a):
    return np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)


def alpha_u8(rng, w, h):
    """Alpha with a gradient, noise, and exact 0 and 255 regions."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    a = (x + y) / (w + h - 2)
    a += rng.normal(0.0, 0.1, size=a.shape)
    a = to_u8(np.clip(a, 0, 1))
    a[: h // 5, :] = 0  # fully transparent band (colour under it is not 0)
    a[-(h // 5) :, :] = 255  # fully opaque band
    a[:, : w // 6] = rng.integers(0, 256, size=(h, w // 6))  # pure noise
    return a


# --------------------------------------------------------------------------
# hand-written PNGs (Pillow cannot write these)


def png_chunk(kind, data):
    c = kind + data
    return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)


def write_png(path, w, h, bit_depth, colour_type, raw_rows, extra_chunks=()):
    """raw_rows: list of bytes, one per row, already packed (no filter byte)."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 0)
    data = b"".join(b"\x00" + r for r in raw_rows)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    for kind, payload in extra_chunks:
        out += png_chunk(kind, payload)
    out += png_chunk(b"IDAT", zlib.compress(data, 9)) + png_chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


def write_png16(path, arr, colour_type):
    """arr: uint16 H x W x C (C = 1, 2, 3, 4), written big-endian."""
    h, w = arr.shape[:2]
    be = arr.astype(">u2")
    rows = [be[i].tobytes() for i in range(h)]
    write_png(path, w, h, 16, colour_type, rows)


def write_png_l4(path, arr):
    """arr: uint8 H x W with values 0..15, written as 4-bit grayscale."""
    h, w = arr.shape
    rows = []
    for i in range(h):
        row = list(arr[i]) + ([0] if w % 2 else [])
        rows.append(bytes((row[j] << 4) | row[j + 1] for j in range(0, len(row), 2)))
    write_png(path, w, h, 4, 0, rows)


def write_png_short_palette(path, idx, palette):
    """8-bit indexed PNG whose PLTE has fewer entries than the indices used."""
    h, w = idx.shape
    rows = [idx[i].astype(np.uint8).tobytes() for i in range(h)]
    plte = bytes(np.asarray(palette, dtype=np.uint8).reshape(-1))
    write_png(path, w, h, 8, 3, rows, extra_chunks=[(b"PLTE", plte)])


# --------------------------------------------------------------------------
# the transform (torchvision on PIL images, as open_clip's eval transform)


def resized_size(w, h, size):
    """torchvision _compute_resized_output_size for an int size -> (w, h)."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def clip_crop(rgb, size):
    w, h = rgb.size
    nw, nh = resized_size(w, h, size)
    resized = rgb if (nw, nh) == (w, h) else rgb.resize((nw, nh), Image.BICUBIC)
    top = int(round((nh - size) / 2.0))
    left = int(round((nw - size) / 2.0))
    box = (left, top, left + size, top + size)
    return resized, resized.crop(box), (nw, nh), box


def arr(img):
    return np.asarray(img)


# --------------------------------------------------------------------------
# per-mode checks: numpy re-implementations of Pillow's convert("RGB")


def muldiv255(a, b):
    t = a.astype(np.int64) * b + 128
    return ((t >> 8) + t) >> 8


def expected_rgb(img, raw_file_bytes=None):
    """Recompute convert("RGB") from the decoded samples; None if no formula."""
    m = img.mode
    a = arr(img)
    if m == "RGB":
        return a
    if m == "L":
        return np.repeat(a[..., None], 3, axis=-1)
    if m == "LA":
        return np.repeat(a[..., :1], 3, axis=-1)  # alpha dropped, not composited
    if m == "RGBA":
        return a[..., :3]  # alpha dropped, not composited
    if m == "1":
        return np.repeat(np.where(a, 255, 0).astype(np.uint8)[..., None], 3, axis=-1)
    if m == "P":
        pal = np.zeros((256, 3), np.uint8)  # entries past the PLTE are black
        p = np.frombuffer(img.im.getpalette("RGB", "RGB"), np.uint8).reshape(-1, 3)
        pal[: len(p)] = p
        return pal[a]  # transparency ignored
    if m == "I;16":
        v = a.astype(np.int64)
        return np.repeat(np.where(v > 255, 255, v).astype(np.uint8)[..., None], 3, axis=-1)
    if m == "CMYK":
        c = a.astype(np.int64)
        nk = 255 - c[..., 3:4]
        return np.clip(nk - muldiv255(c[..., :3], nk), 0, 255).astype(np.uint8)
    return None


def cmyk_to_stored(arr4):
    """Pillow writes CMYK JPEG samples as 255 - value (Adobe polarity)."""
    return 255 - arr4


def make_ycck_jpeg(path, rng, w, h):
    """See module docstring. Returns the Y/Cb/Cr/K planes written."""
    rgb = base_rgb(rng, w, h)
    y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    cb = 0.5 + (rgb[..., 2] - y) * 0.564
    cr = 0.5 + (rgb[..., 0] - y) * 0.713
    yy, xx = np.mgrid[0:h, 0:w]
    k = 0.5 * xx / (w - 1) * (yy % 7 > 1)  # black plane with structure
    planes = to_u8(np.stack([y, cb, cr, k], axis=-1))
    # Pillow stores 255 - value for CMYK; undo that so the file holds `planes`.
    img = Image.fromarray(255 - planes, mode="CMYK")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    data = bytearray(buf.getvalue())
    pos = data.find(b"Adobe") - 4
    assert pos >= 0 and data[pos : pos + 4] == b"\xff\xee\x00\x0e", "no Adobe APP14 marker"
    # FFEE, length(2), "Adobe"(5), version(2), flags0(2), flags1(2), transform(1)
    t = pos + 2 + 2 + 5 + 2 + 2 + 2
    assert data[t] == 0, data[t]
    data[t] = 2
    with open(path, "wb") as f:
        f.write(bytes(data))
    return planes


# --------------------------------------------------------------------------


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    specs = []  # (name, writer) ; writer(path) writes the source file

    def add(name, fn):
        specs.append((name, fn))

    def pil_save(w, h, make, **kw):
        def fn(path):
            im = make(w, h)
            fmt = "JPEG" if path.endswith(".jpg") else "PNG"
            im.save(path, fmt, **kw)

        return fn

    rgb_img = lambda w, h: Image.fromarray(to_u8(base_rgb(rng, w, h)), "RGB")
    l_img = lambda w, h: rgb_img(w, h).convert("L")

    add("rgb.png", pil_save(37, 29, rgb_img))
    add("rgb_small.png", pil_save(19, 13, rgb_img))  # upscaling
    add("rgb_short24.png", pil_save(24, 37, rgb_img))  # no resize, top = round(6.5)
    add("l.png", pil_save(29, 41, l_img))  # top = round(4.5) = 4

    def la(w, h):
        g = to_u8(base_rgb(rng, w, h))[..., 1]
        return Image.fromarray(np.stack([g, alpha_u8(rng, w, h)], -1), "LA")

    add("la.png", pil_save(41, 31, la))  # left = round(3.5) = 4

    def rgba(w, h):
        c = to_u8(base_rgb(rng, w, h))
        return Image.fromarray(np.concatenate([c, alpha_u8(rng, w, h)[..., None]], -1), "RGBA")

    add("rgba.png", pil_save(33, 45, rgba))

    def pal(w, h, colors):
        return rgb_img(w, h).convert("P", palette=Image.Palette.ADAPTIVE, colors=colors)

    add("p.png", pil_save(45, 27, lambda w, h: pal(w, h, 64)))
    # 16 colours -> Pillow writes a 4-bit (P;4) PNG
    add("p_trns_index.png", pil_save(27, 39, lambda w, h: pal(w, h, 16), transparency=3))

    def p_alpha(path):
        im = pal(39, 33, 100)
        n = len(im.getpalette()) // 3
        alphas = bytes(int(v) for v in rng.integers(0, 256, size=n))
        alphas = b"\x00\xff" + alphas[2:]
        im.save(path, "PNG", transparency=alphas)

    add("p_trns_alpha.png", p_alpha)

    def p_short(path):
        w, h = 31, 26
        idx = rng.integers(0, 8, size=(h, w))
        idx[:, :4] = 7  # make sure out-of-range indices are present
        write_png_short_palette(path, idx, [[200, 10, 30], [10, 200, 40], [20, 30, 220], [250, 250, 250]])

    add("p_short_palette.png", p_short)

    def bit1(w, h):
        g = arr(l_img(w, h))
        return Image.fromarray(g > 127).convert("1")

    add("bit1.png", pil_save(35, 23, bit1))

    def l4(path):
        w, h = 25, 34
        g = arr(l_img(w, h)) >> 4
        write_png_l4(path, g)

    add("l4.png", l4)

    def gray16(path):
        w, h = 23, 35
        y, x = np.mgrid[0:h, 0:w]
        v = (x + y * w) / (w * h - 1) * 65535.0 + rng.normal(0, 3000, size=(h, w))
        v = np.clip(np.round(v), 0, 65535)
        # bottom third: small values (0..400) so clip-vs-shift is visible
        v[-(h // 3) :, :] = rng.integers(0, 401, size=(h // 3, w))
        v[0, 0], v[0, 1], v[0, 2], v[0, 3] = 0, 255, 256, 65535
        im = Image.fromarray(v.astype(np.uint16))
        assert im.mode == "I;16", im.mode
        im.save(path, "PNG")

    add("gray16.png", gray16)

    def rgb16(path):
        w, h = 43, 29
        hi = to_u8(base_rgb(rng, w, h)).astype(np.uint16)
        lo = rng.integers(0, 256, size=(h, w, 3)).astype(np.uint16)
        lo[0, :, :] = 0xFF  # 0x12FF: truncation and rounding differ
        write_png16(path, (hi << 8) | lo, 2)

    add("rgb16.png", rgb16)

    def la16(path):
        w, h = 21, 30
        g = rng.integers(0, 65536, size=(h, w))
        a = alpha_u8(rng, w, h).astype(np.int64) * 257
        write_png16(path, np.stack([g, a], -1).astype(np.uint16), 4)

    add("la16.png", la16)

    def rgba16(path):
        w, h = 30, 21
        c = rng.integers(0, 65536, size=(h, w, 3))
        a = alpha_u8(rng, w, h).astype(np.int64)[..., None] * 257
        write_png16(path, np.concatenate([c, a], -1).astype(np.uint16), 6)

    add("rgba16.png", rgba16)

    add("gray.jpg", pil_save(37, 29, l_img, quality=90))
    add("rgb.jpg", pil_save(29, 37, rgb_img, quality=90))  # 4:2:0, odd size
    add("rgb444.jpg", pil_save(31, 25, rgb_img, quality=90, subsampling=0))
    add("cmyk.jpg", pil_save(41, 29, lambda w, h: rgb_img(w, h).convert("CMYK"), quality=90))
    add("ycck.jpg", lambda path: make_ycck_jpeg(path, rng, 29, 41))

    def exif6(path):
        exif = Image.Exif()
        exif[0x0112] = 6
        rgb_img(37, 29).save(path, "JPEG", quality=90, exif=exif.tobytes())

    add("exif6.jpg", exif6)

    entries = []
    for name, writer in specs:
        path = os.path.join(out, name)
        writer(path)
        img = Image.open(path)
        opened_mode, (w, h) = img.mode, img.size
        tile_rawmode = img.tile[0][3][0] if isinstance(img.tile[0][3], tuple) else img.tile[0][3]
        info = {}
        if "transparency" in img.info:
            t = img.info["transparency"]
            info["transparency"] = list(t) if isinstance(t, bytes) else t
        for k in ("adobe", "adobe_transform"):
            if k in img.info:
                info[k] = img.info[k]
        orientation = img.getexif().get(0x0112)
        img.load()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rgb = img.convert("RGB")
        conv_warnings = [str(c.message) for c in caught]

        # verify the per-mode formula against Pillow's own output
        want = expected_rgb(img)
        got = arr(rgb)
        if want is not None:
            assert np.array_equal(want, got), f"{name}: formula mismatch for {opened_mode}"
        if name == "rgb16.png":
            raw = np.frombuffer(zlib.decompress(open(path, "rb").read()[8 + 25 + 8 : -16]), np.uint8)
            raw = raw.reshape(h, 1 + w * 6)[:, 1:].reshape(h, w, 3, 2)
            assert np.array_equal(got, raw[..., 0]), "16-bit RGB is not the high byte"
        assert rgb.mode == "RGB" and rgb.size == (w, h)

        resized, crop, (nw, nh), box = clip_crop(rgb, SIZE)
        crop_a = arr(crop)
        assert crop_a.shape == (SIZE, SIZE, 3) and crop_a.dtype == np.uint8

        stem = name.replace(".", "_")  # rgb.png and rgb.jpg both exist
        files = {}
        for kind, a in (("rgb", got), ("crop", crop_a)):
            fn = f"{stem}.{kind}.bin"
            b = np.ascontiguousarray(a, dtype=np.uint8).tobytes()
            with open(os.path.join(out, fn), "wb") as f:
                f.write(b)
            files[kind] = {"file": fn, "shape": list(a.shape), "sha256": hashlib.sha256(b).hexdigest()}

        src = open(path, "rb").read()
        entries.append(
            {
                "name": stem,
                "file": name,
                "format": img.format,
                "mode": opened_mode,
                "tile_rawmode": tile_rawmode,
                "width": w,
                "height": h,
                "exif_orientation": orientation,
                "info": info,
                "convert_warnings": conv_warnings,
                "source_sha256": hashlib.sha256(src).hexdigest(),
                "transform_size": SIZE,
                "resized_size": [nw, nh],
                "crop_box": list(box),
                "rgb": files["rgb"],
                "crop": files["crop"],
            }
        )
        print(f"{name:22s} {img.format:4s} {opened_mode:5s} raw={tile_rawmode:9s} {w}x{h} -> {nw}x{nh} box={box}")

    # ---- measured facts --------------------------------------------------
    facts = {}
    # RGBA: convert-then-resize (saev/torchvision loader) vs resize-then-convert
    # (open_clip's own order: Resize, CenterCrop, then _convert_to_rgb; Pillow
    # resizes RGBA with premultiplied alpha).
    im = Image.open(os.path.join(out, "rgba.png"))
    a1 = arr(clip_crop(im.convert("RGB"), SIZE)[1])
    a2 = arr(clip_crop(im, SIZE)[1].convert("RGB"))
    facts["rgba_crop_pixels_differing_convert_first_vs_premultiplied_resize"] = float(
        np.mean(np.any(a1 != a2, axis=-1))
    )
    facts["rgba_crop_max_abs_diff"] = int(np.abs(a1.astype(int) - a2.astype(int)).max())
    # EXIF orientation 6 is not applied by Image.open / convert
    im = Image.open(os.path.join(out, "exif6.jpg"))
    facts["exif6_opened_size"] = list(im.size)
    # JPEG decoder settings: Pillow only sets dct_method / fancy upsampling
    # when draft() was called, which convert() never does.
    facts["jpeg_decoderconfig_after_open"] = list(Image.open(os.path.join(out, "rgb.jpg")).decoderconfig)

    doc = {
        "generator": "tools/golden/make_image_modes.py",
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "libjpeg_turbo": features.version("libjpeg_turbo"),
        "zlib": features.version("zlib"),
        "seed": SEED,
        "transform": {
            "size": SIZE,
            "resize": "shorter side -> size, longer -> int(size*long/short); PIL BICUBIC",
            "center_crop": "top=int(round((h-size)/2.0)), left=int(round((w-size)/2.0))",
        },
        "layout": "uint8, row-major H x W x 3, no header",
        "facts": facts,
        "images": entries,
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")

    # ---- reopen check ----------------------------------------------------
    total = 0
    for e in entries:
        im = Image.open(os.path.join(out, e["file"]))
        assert im.mode == e["mode"] and im.size == (e["width"], e["height"])
        for kind in ("rgb", "crop"):
            b = open(os.path.join(out, e[kind]["file"]), "rb").read()
            assert hashlib.sha256(b).hexdigest() == e[kind]["sha256"]
            assert len(b) == np.prod(e[kind]["shape"])
    for fn in os.listdir(out):
        total += os.path.getsize(os.path.join(out, fn))
    print("facts:", json.dumps(facts))
    print(f"{len(entries)} images, folder size {total} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "image-modes"))

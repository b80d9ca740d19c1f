"""Image preprocessing of InternVL2 and LLaVA-1.5, in numpy, for parity checks of vtprune's.

Pillow is not needed (nor assumed installed): its bicubic resize, the filter every reference
pipeline runs (InternVL's dynamic_preprocess calls Image.resize with Pillow's default filter,
BICUBIC; the Hugging Face CLIP image processor resizes through PIL with BICUBIC), is computed
here the way Pillow's libImaging/Resample.c computes it for 8-bit images: a separable
convolution with the Keys cubic (a = -0.5) whose support widens by the reduction factor,
horizontal pass first into an 8-bit intermediate, weights normalised then rounded to 22-bit
fixed point, accumulation from 2^21 (round half up), clipping to 0..255.

* InternVL (load_image / dynamic_preprocess / build_transform): the grid (i, j) of
  find_closest_aspect_ratio over the sorted set of candidate grids, a resize to (S i, S j),
  row-major crops, the thumbnail (a resize of the whole image to S x S) when there is more than
  one tile; T.Resize((S, S)) on an S x S tile is the identity; ToTensor (float32 p / 255) and
  Normalize (float32 (x - mean) / std) with the ImageNet statistics.
* LLaVA-1.5 (image_aspect_ratio "pad"): expand2square with the colour
  tuple(int(x * 255) for x in image_mean), pasted at ((side - w) // 2, (side - h) // 2); then
  CLIPImageProcessor: resize the shortest edge to S (the square becomes S x S), centre crop S
  (a no-op), rescale p * (1 / 255) in float64 cast to float32, normalise in float32 with the
  OpenAI CLIP statistics.

    /usr/bin/python3 tools/reference/preprocess_reference.py compare DIR
compares every DIR/*.safetensors written by PreprocessParityTest (raw `image` uint8 [H, W, 3],
vtprune's `internvl` and `llava` pixel values and their settings in `settings` int64
[S_internvl, min, max, thumbnail, S_llava]).
"""
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

PRECISION_BITS = 22
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def _cubic(x):
    a = -0.5
    x = np.abs(x)
    return np.where(x < 1.0, ((a + 2.0) * x - (a + 3.0)) * x * x + 1,
                    np.where(x < 2.0, (((x - 5) * x + 8) * x - 4) * a, 0.0))


def _coefficients(in_size, out_size):
    """Per output index: first input index, and fixed-point weights [out, ksize] (0-padded)."""
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 2.0 * filterscale
    ksize = int(np.ceil(support)) * 2 + 1
    first = np.zeros(out_size, dtype=np.int64)
    weights = np.zeros((out_size, ksize), dtype=np.int64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)  # int() truncates toward zero, as C's cast
        xmax = min(int(center + support + 0.5), in_size) - xmin
        k = _cubic((np.arange(xmax) + xmin - center + 0.5) / filterscale)
        total = k.sum()
        if total != 0.0:
            k = k / total
        fixed = np.where(k < 0, -0.5 + k * (1 << PRECISION_BITS), 0.5 + k * (1 << PRECISION_BITS))
        weights[xx, :xmax] = np.trunc(fixed).astype(np.int64)
        first[xx] = xmin
    return first, weights


def _pass(img, axis, out_size):
    """One 8-bit convolution pass along `axis` (1 = horizontal, 0 = vertical) of uint8 [H, W, 3]."""
    first, weights = _coefficients(img.shape[axis], out_size)
    src = img.astype(np.int32)  # Pillow accumulates in a C int; the sums fit (|sum| < 2^31)
    last = img.shape[axis] - 1
    shape = list(img.shape)
    shape[axis] = out_size
    acc = np.full(shape, 1 << (PRECISION_BITS - 1), dtype=np.int32)
    for t in range(weights.shape[1]):
        idx = np.minimum(first + t, last)  # padded taps have weight 0
        w = weights[:, t].astype(np.int32)
        if axis == 1:
            acc += src[:, idx, :] * w[None, :, None]
        else:
            acc += src[idx, :, :] * w[:, None, None]
    out = np.where(acc <= 0, 0, acc >> PRECISION_BITS)
    return np.where(acc >= (1 << PRECISION_BITS << 8), 255, out).astype(np.uint8)


def resize_bicubic(img, width, height):
    """Pillow's Image.resize((width, height), BICUBIC) of an 8-bit RGB array [H, W, 3]."""
    out = img
    if width != img.shape[1]:
        out = _pass(out, 1, width)
    if height != img.shape[0]:
        out = _pass(out, 0, height)
    return out.copy()


def _to_chw_float(tiles, mean, std, hf_rescale):
    x = np.stack(tiles).astype(np.float32 if not hf_rescale else np.float64)
    if hf_rescale:
        x = (x * (1 / 255.0)).astype(np.float32)  # transformers' rescale: float64 product, float32 result
    else:
        x = x / np.float32(255)  # torchvision ToTensor: float32 division
    x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def closest_grid(aspect, grids, width, height, size):
    best_diff, best = float("inf"), (1, 1)
    area = width * height
    for g in grids:
        diff = abs(aspect - g[0] / g[1])
        if diff < best_diff:
            best_diff, best = diff, g
        elif diff == best_diff and area > 0.5 * size * size * g[0] * g[1]:
            best = g
    return best


def internvl(img, size, min_num, max_num, thumbnail):
    h, w = img.shape[:2]
    grids = set((i, j) for n in range(min_num, max_num + 1) for i in range(1, n + 1) for j in range(1, n + 1)
                if min_num <= i * j <= max_num)
    grids = sorted(grids, key=lambda g: g[0] * g[1])
    cols, rows = closest_grid(w / h, grids, w, h, size)
    resized = resize_bicubic(img, size * cols, size * rows)
    tiles = [resized[r * size:(r + 1) * size, c * size:(c + 1) * size] for r in range(rows) for c in range(cols)]
    if thumbnail and len(tiles) != 1:
        tiles.append(resize_bicubic(img, size, size))
    return _to_chw_float(tiles, IMAGENET_MEAN, IMAGENET_STD, hf_rescale=False)


def llava(img, size):
    h, w = img.shape[:2]
    side = max(w, h)
    square = img
    if w != h:
        square = np.empty((side, side, 3), dtype=np.uint8)
        square[:, :] = [int(m * 255) for m in CLIP_MEAN]
        y, x = (side - h) // 2, (side - w) // 2
        square[y:y + h, x:x + w] = img
    view = resize_bicubic(square, size, size)  # shortest edge -> size; the centre crop is then a no-op
    return _to_chw_float([view], CLIP_MEAN, CLIP_STD, hf_rescale=True)


def compare(root):
    import st  # noqa: E402  (torch-based; only the comparison needs it)
    files = sorted(glob.glob(os.path.join(root, "*.safetensors")))
    if not files:
        print("no inputs in " + root)
        return 2
    worst = 0.0
    print(f"{'image':16s} {'pipeline':9s} {'shape':>20s} {'max abs diff':>12s} {'values differing':>16s}")
    for f in files:
        t = st.load(f)
        img = t["image"].numpy()
        s_int, lo, hi, thumb, s_llava = [int(v) for v in t["settings"].tolist()]
        refs = {"internvl": internvl(img, s_int, lo, hi, bool(thumb)), "llava": llava(img, s_llava)}
        for name, ref in refs.items():
            got = t[name].numpy()
            label = f"{img.shape[1]}x{img.shape[0]}"
            if got.shape != ref.shape:
                print(f"{label:16s} {name:9s} shape {got.shape} vs reference {ref.shape}  MISMATCH")
                worst = float("inf")
                continue
            diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
            worst = max(worst, float(diff.max()))
            print(f"{label:16s} {name:9s} {str(list(ref.shape)):>20s} {diff.max():12.3g} "
                  f"{int((diff > 0).sum()):>8d} / {diff.size}")
    ok = worst == 0.0
    print("pixel values identical" if ok else f"MISMATCH: max abs diff {worst:.3g}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "compare":
        print(__doc__)
        sys.exit(2)
    sys.exit(compare(sys.argv[2]))

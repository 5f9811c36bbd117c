"""The synthetic image-caption dataset: coloured shapes, deterministic by seed.

Each item is drawn from a few factors — shape, colour, size, position, background, count — plus
nuisances that the captions do not mention: colour jitter, pixel noise, rotation, partial occlusion
by a grey bar. Images are rendered at 3x and reduced with Pillow's bicubic filter, so edges are
anti-aliased the way resized photos are.

The held-out split: for a fixed, seeded subset of (colour, shape) pairs one size is never seen in
training, so every held-out (colour, shape, size) combination is new to the model while each colour
and each shape, and each (colour, shape) pair at other sizes, was seen.

    from shapes import Factors, render, caption, split_items
"""
import math
import random

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (215, 35, 35), "orange": (245, 135, 20), "yellow": (240, 215, 35), "green": (40, 165, 60),
           "blue": (35, 85, 215), "purple": (135, 50, 175), "black": (25, 25, 25), "white": (245, 245, 245)}
SHAPES = ["circle", "square", "triangle", "star", "cross", "diamond", "ring"]
SIZES = {"small": 0.32, "medium": 0.46, "large": 0.62}
POSITIONS = {"center": (0.5, 0.5), "left": (0.33, 0.5), "right": (0.67, 0.5), "top": (0.5, 0.33),
             "bottom": (0.5, 0.67), "top left": (0.33, 0.33), "top right": (0.67, 0.33), "bottom left": (0.33, 0.67),
             "bottom right": (0.67, 0.67)}
BACKGROUNDS = {"white": (250, 250, 250), "black": (12, 12, 12), "grey": (128, 128, 128), "beige": (225, 210, 178),
               "striped": None}
COUNT_WORDS = {1: "one", 2: "two", 3: "three"}
PLURAL = {"cross": "crosses"}


class Item:
    __slots__ = ("shape", "colour", "size", "position", "background", "count", "seed")

    def __init__(self, shape, colour, size, position, background, count, seed):
        self.shape, self.colour, self.size, self.position = shape, colour, size, position
        self.background, self.count, self.seed = background, count, seed

    def meta(self):
        return {"shape": self.shape, "colour": self.colour, "size": self.size, "position": self.position,
                "background": self.background, "count": self.count}


def heldout_triples(seed):
    """The (colour, shape, size) combinations kept out of training: one size for 24 of the 56 pairs."""
    rng = random.Random(seed * 7 + 1)
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    rng.shuffle(pairs)
    sizes = list(SIZES)
    return {(c, s, sizes[i % 3]) for i, (c, s) in enumerate(pairs[:24])}


def random_item(rng, seed):
    colour = rng.choice(list(COLOURS))
    shape = rng.choice(SHAPES)
    size = rng.choice(list(SIZES))
    bgs = [b for b in BACKGROUNDS if b != colour]
    background = rng.choice(bgs)
    count = 1 if rng.random() < 0.8 or size == "large" else 2
    position = "center" if size == "large" or count > 1 else rng.choice(list(POSITIONS))
    return Item(shape, colour, size, position, background, count, seed)


def split_items(seed, n_train, n_test):
    """(train, test) item lists: test items all use held-out (colour, shape, size) triples."""
    held = heldout_triples(seed)
    rng = random.Random(seed)
    train, test = [], []
    k = 0
    while len(train) < n_train or len(test) < n_test:
        it = random_item(rng, seed * 1000003 + k)
        k += 1
        if (it.colour, it.shape, it.size) in held:
            if len(test) < n_test:
                test.append(it)
        elif len(train) < n_train:
            train.append(it)
    return train, test


# ---- rendering -------------------------------------------------------------------------------------
def _polygon(shape, cx, cy, r, angle):
    if shape == "square":
        pts = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        pts = [(x * 0.8, y * 0.8) for x, y in pts]
    elif shape == "diamond":
        pts = [(0, -1), (0.75, 0), (0, 1), (-0.75, 0)]
    elif shape == "triangle":
        pts = [(math.cos(math.radians(-90 + 120 * i)), math.sin(math.radians(-90 + 120 * i)) + 0.2) for i in range(3)]
    elif shape == "star":
        pts = []
        for i in range(10):
            rr = 1.0 if i % 2 == 0 else 0.42
            a = math.radians(-90 + 36 * i)
            pts.append((rr * math.cos(a), rr * math.sin(a)))
    elif shape == "cross":
        w = 0.33
        pts = [(-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w), (w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w),
               (-w, -w)]
    else:
        raise ValueError(shape)
    ca, sa = math.cos(angle), math.sin(angle)
    return [(cx + r * (x * ca - y * sa), cy + r * (x * sa + y * ca)) for x, y in pts]


def _jitter(rgb, rng, amount):
    return tuple(int(min(255, max(0, v + rng.randint(-amount, amount)))) for v in rgb)


def render(item, size=64, supersample=3):
    """The item's image as an 8-bit RGB Pillow image of size x size."""
    rng = random.Random(item.seed)
    S = size * supersample
    if item.background == "striped":
        a, b = _jitter((235, 235, 235), rng, 8), _jitter((160, 160, 160), rng, 8)
        img = Image.new("RGB", (S, S), a)
        d = ImageDraw.Draw(img)
        period = S // rng.choice([6, 8, 10])
        vertical = rng.random() < 0.5
        for k in range(0, S, period):
            box = (k, 0, k + period // 2, S) if vertical else (0, k, S, k + period // 2)
            d.rectangle(box, fill=b)
    else:
        img = Image.new("RGB", (S, S), _jitter(BACKGROUNDS[item.background], rng, 10))
    d = ImageDraw.Draw(img)
    colour = _jitter(COLOURS[item.colour], rng, 18)
    r = SIZES[item.size] * S / 2 * rng.uniform(0.88, 1.12)
    if item.count == 1:
        px, py = POSITIONS[item.position]
        centres = [(px + rng.uniform(-0.04, 0.04), py + rng.uniform(-0.04, 0.04))]
    else:
        off = 0.25
        r *= 0.8
        if rng.random() < 0.5:
            centres = [(0.5 - off, 0.5 + rng.uniform(-0.1, 0.1)), (0.5 + off, 0.5 + rng.uniform(-0.1, 0.1))]
        else:
            centres = [(0.5 + rng.uniform(-0.1, 0.1), 0.5 - off), (0.5 + rng.uniform(-0.1, 0.1), 0.5 + off)]
    for (fx, fy) in centres:
        cx, cy = fx * S, fy * S
        angle = math.radians(rng.uniform(-12, 12))
        if item.shape == "circle":
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        elif item.shape == "ring":
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
            ri = r * 0.55
            inner = img.getpixel((int(min(S - 1, max(0, cx + r * 1.05))), int(cy)))  # background beside it
            d.ellipse((cx - ri, cy - ri, cx + ri, cy + ri), fill=inner)
        else:
            d.polygon(_polygon(item.shape, cx, cy, r, angle), fill=colour)
    if rng.random() < 0.2:  # occlusion: a grey bar over part of one shape
        cx, cy = centres[0][0] * S, centres[0][1] * S
        g = rng.randint(90, 170)
        w, h = r * rng.uniform(0.25, 0.45), r * rng.uniform(1.0, 1.8)
        if rng.random() < 0.5:
            w, h = h, w
        ox, oy = cx + rng.choice([-1, 1]) * r * rng.uniform(0.75, 1.05), cy + rng.uniform(-0.5, 0.5) * r
        d.rectangle((ox - w / 2, oy - h / 2, ox + w / 2, oy + h / 2), fill=(g, g, g + rng.randint(-10, 10)))
    img = img.resize((size, size), Image.BICUBIC)
    sigma = rng.choice([0, 0, 2, 4, 8])
    if sigma:
        arr = np.asarray(img).astype(np.float32)
        noise = np.random.default_rng(item.seed).normal(0, sigma, arr.shape)
        img = Image.fromarray(np.clip(np.rint(arr + noise), 0, 255).astype(np.uint8))
    return img


# ---- captions --------------------------------------------------------------------------------------
def _a(word):
    return "an" if word[0] in "aeiou" else "a"


def _plural(shape):
    return PLURAL.get(shape, shape + "s")


TEMPLATES = [
    "a photo of {np} on a {bg} background",
    "{np}",
    "a picture of {np}",
    "{np} on {bg}",
    "an image showing {np}",
    "{np} in the {pos}",
    "a drawing of {np} in the {pos} on a {bg} background",
    "{np} against a {bg} background",
    "there is {np} here",
    "a {bg} background with {np}",
]


def noun_phrase(item, rng, with_size=True):
    words = []
    if with_size and rng.random() < 0.85:
        words.append(item.size)
    words.append(item.colour)
    if item.count == 1:
        words.append(item.shape)
        return _a(words[0]) + " " + " ".join(words)
    words.append(_plural(item.shape))
    return COUNT_WORDS[item.count] + " " + " ".join(words)


def caption(item, rng):
    """A random caption of the item (training)."""
    t = rng.choice(TEMPLATES)
    if "{pos}" in t and item.count > 1:
        t = "a photo of {np} on a {bg} background"
    s = t.format(np=noun_phrase(item, rng), bg=item.background, pos=item.position)
    if rng.random() < 0.1:
        s = s.capitalize() + rng.choice([".", "", "!"])
    return s


def full_caption(item):
    """The one complete caption of an item (retrieval evaluation, the sample catalog)."""
    n = COUNT_WORDS[item.count] if item.count > 1 else _a(item.size)
    shape = item.shape if item.count == 1 else _plural(item.shape)
    where = f" in the {item.position}" if item.count == 1 and item.size != "large" else ""
    return f"a photo of {n} {item.size} {item.colour} {shape}{where} on a {item.background} background"


def label_prompt(colour, shape):
    return f"a photo of {_a(colour)} {colour} {shape}"


def render_array(items, size=64):
    return np.stack([np.asarray(render(it, size)) for it in items])

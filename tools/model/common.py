"""Pieces the toolchain's commands share: paths, the tiny models' configurations, Hugging Face
config files, image preprocessing of rendered arrays, tokenizer loading, and embedding helpers."""
import hashlib
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "preprocess"))

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
SIGLIP_MEAN = [0.5, 0.5, 0.5]
SIGLIP_STD = [0.5, 0.5, 0.5]
RESCALE = 0.00392156862745098

# The tiny models: small enough to train in minutes on two cores, big enough to work.
TINY = {
    "tiny-clip": dict(family="clip", image_size=64, patch_size=8, width=64, vision_layers=4, text_layers=3,
                      heads=4, mlp=256, projection_dim=64, context_length=77, seq_buckets=[16, 32, 77]),
    "tiny-siglip": dict(family="siglip", image_size=64, patch_size=8, width=64, vision_layers=4, text_layers=3,
                        heads=4, mlp=256, projection_dim=64, context_length=64, seq_buckets=[64]),
}

# Full-size shapes for performance work (random weights): the published models' configurations.
BENCH = {
    "vit-b-32": dict(family="clip", image_size=224, patch_size=32, vision_width=768, vision_layers=12,
                     vision_heads=12, vision_mlp=3072, text_width=512, text_layers=12, text_heads=8, text_mlp=2048,
                     projection_dim=512, vocab_size=49408, context_length=77),
    "vit-b-16": dict(family="clip", image_size=224, patch_size=16, vision_width=768, vision_layers=12,
                     vision_heads=12, vision_mlp=3072, text_width=512, text_layers=12, text_heads=8, text_mlp=2048,
                     projection_dim=512, vocab_size=49408, context_length=77),
    "siglip-base": dict(family="siglip", image_size=224, patch_size=16, vision_width=768, vision_layers=12,
                        vision_heads=12, vision_mlp=3072, text_width=768, text_layers=12, text_heads=12,
                        text_mlp=3072, projection_dim=768, vocab_size=32000, context_length=64),
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_json(path, obj, indent=2):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent, ensure_ascii=False)
        f.write("\n")


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def hf_config(family, image_size, patch_size, vision_width, vision_layers, vision_heads, vision_mlp, text_width,
              text_layers, text_heads, text_mlp, projection_dim, vocab_size, context_length, bos_id, eos_id, pad_id):
    """config.json as transformers writes it for CLIPModel / SiglipModel."""
    if family == "clip":
        act, eps = "quick_gelu", 1e-5
        text = dict(model_type="clip_text_model", vocab_size=vocab_size, hidden_size=text_width,
                    intermediate_size=text_mlp, num_hidden_layers=text_layers, num_attention_heads=text_heads,
                    max_position_embeddings=context_length, hidden_act=act, layer_norm_eps=eps, bos_token_id=bos_id,
                    eos_token_id=eos_id, pad_token_id=pad_id, projection_dim=projection_dim)
        vision = dict(model_type="clip_vision_model", hidden_size=vision_width, intermediate_size=vision_mlp,
                      num_hidden_layers=vision_layers, num_attention_heads=vision_heads, num_channels=3,
                      image_size=image_size, patch_size=patch_size, hidden_act=act, layer_norm_eps=eps,
                      projection_dim=projection_dim)
        return {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": projection_dim,
                "logit_scale_init_value": 2.6592, "initializer_factor": 1.0, "torch_dtype": "float32",
                "text_config": text, "vision_config": vision}
    act, eps = "gelu_pytorch_tanh", 1e-6
    text = dict(model_type="siglip_text_model", vocab_size=vocab_size, hidden_size=text_width,
                intermediate_size=text_mlp, num_hidden_layers=text_layers, num_attention_heads=text_heads,
                max_position_embeddings=context_length, hidden_act=act, layer_norm_eps=eps, pad_token_id=pad_id,
                eos_token_id=eos_id, projection_size=projection_dim)
    vision = dict(model_type="siglip_vision_model", hidden_size=vision_width, intermediate_size=vision_mlp,
                  num_hidden_layers=vision_layers, num_attention_heads=vision_heads, num_channels=3,
                  image_size=image_size, patch_size=patch_size, hidden_act=act, layer_norm_eps=eps)
    return {"architectures": ["SiglipModel"], "model_type": "siglip", "initializer_factor": 1.0,
            "torch_dtype": "float32", "text_config": text, "vision_config": vision}


def hf_preprocessor(family, image_size):
    if family == "clip":
        return {"crop_size": {"height": image_size, "width": image_size}, "do_center_crop": True,
                "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
                "image_mean": CLIP_MEAN, "image_std": CLIP_STD, "image_processor_type": "CLIPImageProcessor",
                "processor_class": "CLIPProcessor", "resample": 3, "rescale_factor": RESCALE,
                "size": {"shortest_edge": image_size}}
    return {"do_convert_rgb": None, "do_normalize": True, "do_rescale": True, "do_resize": True,
            "image_mean": SIGLIP_MEAN, "image_std": SIGLIP_STD, "image_processor_type": "SiglipImageProcessor",
            "processor_class": "SiglipProcessor", "resample": 3, "rescale_factor": RESCALE,
            "size": {"height": image_size, "width": image_size}}


def normalize_u8(arr, family):
    """uint8 [N, H, W, 3] already at the model's size -> float32 NCHW as the processor computes it."""
    mean = np.array(CLIP_MEAN if family == "clip" else SIGLIP_MEAN, np.float32)
    std = np.array(CLIP_STD if family == "clip" else SIGLIP_STD, np.float32)
    x = (arr.astype(np.float64) * RESCALE).astype(np.float32)
    return np.ascontiguousarray(((x - mean) / std).transpose(0, 3, 1, 2))


def text_encoder(family, model_dir):
    if family == "clip":
        import clip_bpe
        return clip_bpe.Encoder(model_dir)
    import siglip_spm
    return siglip_spm.Encoder(model_dir)


def tokenize(enc, texts, length):
    ids, mask = zip(*(enc.encode(t, length) for t in texts))
    return np.array(ids, np.int64), np.array(mask, np.int64)


def l2n(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)

"""CLIP and SigLIP in PyTorch, following Hugging Face's CLIPModel and SiglipModel.

Module and parameter names are those of transformers' state dicts, so a real
checkpoint's model.safetensors loads by name (see load_state / expected_shapes).
What each family does:

  CLIP:   quick_gelu MLPs, pre-LN encoder layers, layer_norm_eps 1e-5; vision: class token,
          conv patch embedding without bias, pre_layrnorm, pooled = post_layernorm(class token),
          visual_projection; text: causal mask plus the padding mask, pooled at the end-of-text token
          (argmax of the ids when eos_token_id is the legacy 2, else the first eos), text_projection;
          logit_scale (stored as its log).
  SigLIP: gelu (tanh approximation), layer_norm_eps 1e-6, no projections; vision: conv patch embedding
          with bias, no class token, post_layernorm, then the multi-head attention pooling head (a
          learned probe attends over the patches); text: no causal mask and no padding mask (the model
          is trained on fixed-length padding), pooled at the last position, then `head`;
          logit_scale (log) and logit_bias.

The attention is written out (matmul, softmax) rather than taken from nn.MultiheadAttention so that
the ONNX export is plain MatMul/Softmax and the same code runs in training and export.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

NEG = torch.finfo(torch.float32).min


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


ACTS = {"quick_gelu": quick_gelu, "gelu_pytorch_tanh": gelu_tanh, "gelu": F.gelu}


# ---- configurations ------------------------------------------------------------------------------
# Hugging Face's defaults, used where a checkpoint's config.json leaves a field out.
CLIP_TEXT_DEFAULTS = dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                          num_attention_heads=8, max_position_embeddings=77, hidden_act="quick_gelu",
                          layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=49406, eos_token_id=49407)
CLIP_VISION_DEFAULTS = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                            num_channels=3, image_size=224, patch_size=32, hidden_act="quick_gelu",
                            layer_norm_eps=1e-5)
SIGLIP_TEXT_DEFAULTS = dict(vocab_size=32000, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                            num_attention_heads=12, max_position_embeddings=64, hidden_act="gelu_pytorch_tanh",
                            layer_norm_eps=1e-6, pad_token_id=1, bos_token_id=49406, eos_token_id=49407)
SIGLIP_VISION_DEFAULTS = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                              num_channels=3, image_size=224, patch_size=16, hidden_act="gelu_pytorch_tanh",
                              layer_norm_eps=1e-6)


class Cfg:
    """A config section as attributes, defaults filled in."""

    def __init__(self, defaults, given):
        self.__dict__.update(defaults)
        self.__dict__.update({k: v for k, v in (given or {}).items() if k in defaults or k == "projection_size"})


def family_configs(config):
    """(family, text Cfg, vision Cfg, projection_dim) from a Hugging Face config.json dict."""
    mt = config.get("model_type")
    if mt == "clip":
        t = Cfg(CLIP_TEXT_DEFAULTS, config.get("text_config") or config.get("text_config_dict"))
        v = Cfg(CLIP_VISION_DEFAULTS, config.get("vision_config") or config.get("vision_config_dict"))
        return "clip", t, v, int(config.get("projection_dim", 512))
    if mt == "siglip":
        t = Cfg(SIGLIP_TEXT_DEFAULTS, config.get("text_config"))
        v = Cfg(SIGLIP_VISION_DEFAULTS, config.get("vision_config"))
        proj = getattr(t, "projection_size", None) or t.hidden_size
        t.projection_size = proj
        return "siglip", t, v, proj
    raise ValueError(f"config.json: model_type is {mt!r}; this converter knows \"clip\" and \"siglip\"")


# ---- shared blocks --------------------------------------------------------------------------------
class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        if dim % heads:
            raise ValueError(f"hidden_size {dim} is not a multiple of num_attention_heads {heads}")
        self.heads, self.head_dim = heads, dim // heads
        self.scale = self.head_dim ** -0.5
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x, allowed=None):
        """allowed: bool [B or 1, 1, L, L] (True = may attend), or None."""
        b, n, d = x.shape
        q = self.q_proj(x).view(b, n, self.heads, self.head_dim).transpose(1, 2) * self.scale
        k = self.k_proj(x).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        s = q @ k.transpose(-1, -2)
        if allowed is not None:
            s = s.masked_fill(~allowed, NEG)
        a = torch.softmax(s, dim=-1)
        return self.out_proj((a @ v).transpose(1, 2).reshape(b, n, d))


class MLP(nn.Module):
    def __init__(self, dim, hidden, act):
        super().__init__()
        self.act = ACTS[act]
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = Attention(c.hidden_size, c.num_attention_heads)
        self.layer_norm1 = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.mlp = MLP(c.hidden_size, c.intermediate_size, c.hidden_act)
        self.layer_norm2 = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, x, allowed=None):
        x = x + self.self_attn(self.layer_norm1(x), allowed)
        return x + self.mlp(self.layer_norm2(x))


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layers = nn.ModuleList([EncoderLayer(c) for _ in range(c.num_hidden_layers)])

    def forward(self, x, allowed=None):
        for layer in self.layers:
            x = layer(x, allowed)
        return x


class TextEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.token_embedding = nn.Embedding(c.vocab_size, c.hidden_size)
        self.position_embedding = nn.Embedding(c.max_position_embeddings, c.hidden_size)

    def forward(self, ids):
        n = ids.shape[1]
        return self.token_embedding(ids) + self.position_embedding.weight[:n].unsqueeze(0)


def patch_tokens(conv, pixels):
    return conv(pixels).flatten(2).transpose(1, 2)


# ---- CLIP ----------------------------------------------------------------------------------------
class CLIPVisionEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.class_embedding = nn.Parameter(torch.randn(c.hidden_size))
        self.patch_embedding = nn.Conv2d(c.num_channels, c.hidden_size, c.patch_size, c.patch_size, bias=False)
        self.position_embedding = nn.Embedding((c.image_size // c.patch_size) ** 2 + 1, c.hidden_size)

    def forward(self, pixels):
        x = patch_tokens(self.patch_embedding, pixels)
        cls = self.class_embedding.view(1, 1, -1).expand(x.shape[0], 1, -1)
        return torch.cat([cls, x], dim=1) + self.position_embedding.weight.unsqueeze(0)


class CLIPVisionTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = CLIPVisionEmbeddings(c)
        self.pre_layrnorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)  # sic, as in transformers
        self.encoder = Encoder(c)
        self.post_layernorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)

    def forward(self, pixels):
        x = self.encoder(self.pre_layrnorm(self.embeddings(pixels)))
        return self.post_layernorm(x[:, 0])


class CLIPTextTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.eos_token_id = c.eos_token_id
        self.embeddings = TextEmbeddings(c)
        self.encoder = Encoder(c)
        self.final_layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        L = c.max_position_embeddings
        self.register_buffer("causal", torch.ones(L, L, dtype=torch.bool).tril().view(1, 1, L, L), persistent=False)

    def forward(self, ids, mask):
        n = ids.shape[1]
        allowed = self.causal[:, :, :n, :n] & (mask[:, None, None, :] > 0)
        x = self.final_layer_norm(self.encoder(self.embeddings(ids), allowed))
        if self.eos_token_id == 2:  # legacy configs (openai/clip-*): the eos token has the largest id
            pos = ids.to(torch.int32).argmax(dim=-1)
        else:
            pos = (ids == self.eos_token_id).to(torch.int32).argmax(dim=-1)
        return torch.gather(x, 1, pos.view(-1, 1, 1).expand(-1, 1, x.shape[-1])).squeeze(1)


class CLIPModel(nn.Module):
    family = "clip"

    def __init__(self, text_cfg, vision_cfg, projection_dim, logit_scale_init=2.6592):
        super().__init__()
        self.text_cfg, self.vision_cfg, self.projection_dim = text_cfg, vision_cfg, projection_dim
        self.text_model = CLIPTextTransformer(text_cfg)
        self.vision_model = CLIPVisionTransformer(vision_cfg)
        self.visual_projection = nn.Linear(vision_cfg.hidden_size, projection_dim, bias=False)
        self.text_projection = nn.Linear(text_cfg.hidden_size, projection_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(float(logit_scale_init)))

    def encode_image(self, pixels):
        return self.visual_projection(self.vision_model(pixels))

    def encode_text(self, ids, mask):
        return self.text_projection(self.text_model(ids, mask))


# ---- SigLIP --------------------------------------------------------------------------------------
class SiglipVisionEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.patch_embedding = nn.Conv2d(c.num_channels, c.hidden_size, c.patch_size, c.patch_size)
        self.position_embedding = nn.Embedding((c.image_size // c.patch_size) ** 2, c.hidden_size)

    def forward(self, pixels):
        return patch_tokens(self.patch_embedding, pixels) + self.position_embedding.weight.unsqueeze(0)


class PoolingAttention(nn.Module):
    """nn.MultiheadAttention's parameters (in_proj_weight/bias, out_proj), one query."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, q, kv):
        b, n, d = kv.shape
        wq, wk, wv = self.in_proj_weight.chunk(3)
        bq, bk, bv = self.in_proj_bias.chunk(3)
        q = F.linear(q, wq, bq).view(b, -1, self.heads, self.head_dim).transpose(1, 2)
        k = F.linear(kv, wk, bk).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        v = F.linear(kv, wv, bv).view(b, n, self.heads, self.head_dim).transpose(1, 2)
        a = torch.softmax((q * self.head_dim ** -0.5) @ k.transpose(-1, -2), dim=-1)
        return self.out_proj((a @ v).transpose(1, 2).reshape(b, -1, d))


class SiglipMultiheadAttentionPoolingHead(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.probe = nn.Parameter(torch.randn(1, 1, c.hidden_size))
        self.attention = PoolingAttention(c.hidden_size, c.num_attention_heads)
        self.layernorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.mlp = MLP(c.hidden_size, c.intermediate_size, c.hidden_act)

    def forward(self, x):
        h = self.attention(self.probe.expand(x.shape[0], -1, -1), x)
        h = h + self.mlp(self.layernorm(h))
        return h[:, 0]


class SiglipVisionTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = SiglipVisionEmbeddings(c)
        self.encoder = Encoder(c)
        self.post_layernorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.head = SiglipMultiheadAttentionPoolingHead(c)

    def forward(self, pixels):
        return self.head(self.post_layernorm(self.encoder(self.embeddings(pixels))))


class SiglipTextTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = TextEmbeddings(c)
        self.encoder = Encoder(c)
        self.final_layer_norm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.head = nn.Linear(c.hidden_size, c.projection_size)

    def forward(self, ids):
        x = self.final_layer_norm(self.encoder(self.embeddings(ids)))
        return self.head(x[:, -1])


class SiglipModel(nn.Module):
    family = "siglip"

    def __init__(self, text_cfg, vision_cfg, projection_dim=None, logit_scale_init=math.log(10.0),
                 logit_bias_init=-10.0):
        super().__init__()
        self.text_cfg, self.vision_cfg = text_cfg, vision_cfg
        self.projection_dim = text_cfg.projection_size
        if vision_cfg.hidden_size != text_cfg.projection_size:
            raise ValueError(f"SigLIP: vision hidden_size {vision_cfg.hidden_size} != text projection_size "
                             f"{text_cfg.projection_size}; the two embeddings must have one dimension")
        self.text_model = SiglipTextTransformer(text_cfg)
        self.vision_model = SiglipVisionTransformer(vision_cfg)
        self.logit_scale = nn.Parameter(torch.tensor([float(logit_scale_init)]))
        self.logit_bias = nn.Parameter(torch.tensor([float(logit_bias_init)]))

    def encode_image(self, pixels):
        return self.vision_model(pixels)

    def encode_text(self, ids, mask=None):
        return self.text_model(ids)


def build(config):
    """A model from a Hugging Face config.json dict (randomly initialised)."""
    family, t, v, proj = family_configs(config)
    if family == "clip":
        return CLIPModel(t, v, proj, config.get("logit_scale_init_value", 2.6592))
    return SiglipModel(t, v)


def init_weights(model, seed):
    """Deterministic initialisation close to transformers' _init_weights (std 0.02 normal, LN 1/0)."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if name.endswith("logit_scale") or name.endswith("logit_bias"):
            continue
        with torch.no_grad():
            if "layer_norm" in name or "layernorm" in name or "layrnorm" in name:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                fan_in = p.shape[-1] if p.dim() > 1 else p.shape[0]
                std = 0.02 if "embedding" in name or "probe" in name else fan_in ** -0.5
                if p.dim() == 4:
                    std = (p.shape[1] * p.shape[2] * p.shape[3]) ** -0.5
                p.copy_(torch.randn(p.shape, generator=g) * std)


# Buffers older transformers versions saved in state dicts; a checkpoint may carry them.
IGNORED_KEYS = ("text_model.embeddings.position_ids", "vision_model.embeddings.position_ids")


def expected_shapes(model):
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def check_state(model, tensors, what):
    """Raises ValueError naming every missing, unexpected or wrongly shaped tensor."""
    want = expected_shapes(model)
    have = {k: tuple(v.shape) for k, v in tensors.items() if k not in IGNORED_KEYS}
    problems = []
    for k in sorted(set(want) - set(have)):
        problems.append(f"missing tensor {k} (expected shape {list(want[k])})")
    for k in sorted(set(have) - set(want)):
        problems.append(f"unexpected tensor {k} (shape {list(have[k])}); not part of a "
                        f"{model.family} model with this config.json")
    for k in sorted(set(want) & set(have)):
        if want[k] != have[k] and not (k.endswith("logit_scale") and
                                       int(torch.tensor(want[k]).prod()) == int(torch.tensor(have[k]).prod())):
            problems.append(f"tensor {k} has shape {list(have[k])}, config.json implies {list(want[k])}")
    if problems:
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise ValueError(f"{what}: not a checkpoint this converter understands:\n  " +
                         "\n  ".join(problems[:20]) + more)


def load_state(model, tensors, what):
    check_state(model, tensors, what)
    sd = model.state_dict()
    with torch.no_grad():
        for k, v in sd.items():
            v.copy_(torch.from_numpy(tensors[k].astype("float32")).reshape(v.shape))


def state_numpy(model):
    return {k: v.detach().cpu().numpy().astype("float32") for k, v in model.state_dict().items()}

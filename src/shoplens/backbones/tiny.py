"""Checkpoints of the real CLIP and SigLIP architectures with random weights, saved as a hub download would be.

For tests (tiny: two small layers, seconds to import) and for measuring the full-size cost (`size="base"`:
ViT-B/32 CLIP and ViT-B/16 SigLIP shapes, random weights, nothing downloaded). The tokenizer is trained with
`tokenizers` on a few product sentences and wrapped so that transformers can save and load it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

CORPUS = (
    "a photo of a red summer dress",
    "blue denim jeans with a slim fit",
    "black leather ankle boots",
    "a striped wool sweater with long sleeves",
    "white cotton t-shirt with a round neck",
    "a brown handbag with a gold clasp",
    "green floral midi skirt",
    "grey hooded sweatshirt",
    "silver sandals for the beach",
    "a navy blazer with two buttons",
)
TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
CLIP_SPECIALS = ("<unk>", "<|startoftext|>", "<|endoftext|>")
SIGLIP_SPECIALS = ("<pad>", "</s>", "<unk>")


def train_tokenizer(family: str, vocab_size: int = 200) -> Tokenizer:
    """A small tokenizer shaped like the family's: CLIP lowercases and wraps in start/end; SigLIP appends </s>."""
    if family == "clip":
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        tok.train_from_iterator(
            CORPUS, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(CLIP_SPECIALS))
        )
        tok.post_processor = processors.TemplateProcessing(
            single="<|startoftext|> $A <|endoftext|>",
            special_tokens=[("<|startoftext|>", 1), ("<|endoftext|>", 2)],
        )
        return tok
    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=list(SIGLIP_SPECIALS), unk_token="<unk>"
    )
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return tok


def _clip_parts(tok: Tokenizer, size: str) -> tuple[object, object, dict[str, str]]:
    """CLIPConfig, its image processor and the tokenizer's special tokens (pad = end of text, as OpenAI's)."""
    from transformers import CLIPConfig, CLIPImageProcessor

    ids = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2}
    if size == "base":  # transformers' defaults are ViT-B/32 (openai/clip-vit-base-patch32)
        config = CLIPConfig(text_config=ids)
    else:
        text = {**TINY, **ids, "vocab_size": tok.get_vocab_size(), "max_position_embeddings": 16}
        vision = {**TINY, "image_size": 32, "patch_size": 8}
        config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=24)
    side = config.vision_config.image_size
    processor = CLIPImageProcessor(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
    specials = {"unk_token": "<unk>", "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>"}
    return config, processor, {**specials, "pad_token": "<|endoftext|>"}


def _siglip_parts(tok: Tokenizer, size: str) -> tuple[object, object, dict[str, str]]:
    """SiglipConfig, its image processor (bilinear, squashed to a square) and special tokens (pad = </s>)."""
    from transformers import SiglipConfig, SiglipImageProcessor

    ids = {"eos_token_id": 1, "pad_token_id": 1, "bos_token_id": None}
    if size == "base":  # transformers' defaults are ViT-B/16 at 224 (google/siglip-base-patch16-224)
        config = SiglipConfig(text_config=ids)
    else:
        text = {**TINY, **ids, "vocab_size": tok.get_vocab_size(), "max_position_embeddings": 16}
        vision = {**TINY, "image_size": 32, "patch_size": 8}
        config = SiglipConfig(text_config={**text, "projection_size": 32}, vision_config=vision)
    side = config.vision_config.image_size
    processor = SiglipImageProcessor(size={"height": side, "width": side}, resample=2)
    return config, processor, {"unk_token": "<unk>", "eos_token": "</s>", "pad_token": "</s>"}


def save_checkpoint(
    folder: str | os.PathLike,
    family: str,
    *,
    size: str = "tiny",
    seed: int = 0,
    logit_scale: float | None = None,
    logit_bias: float | None = None,
    licence: str | None = "apache-2.0",
) -> Path:
    """Write config.json, model.safetensors, tokenizer and preprocessor files as `huggingface-cli download` does."""
    from transformers import CLIPModel, PreTrainedTokenizerFast, SiglipModel

    folder = Path(folder)
    tok = train_tokenizer(family)
    config, processor, specials = (_clip_parts if family == "clip" else _siglip_parts)(tok, size)
    torch.manual_seed(seed)
    model = (CLIPModel if family == "clip" else SiglipModel)(config).eval()
    with torch.no_grad():
        if logit_scale is not None:
            model.logit_scale.fill_(math.log(logit_scale))
        if logit_bias is not None:
            model.logit_bias.fill_(logit_bias)
    model.save_pretrained(folder)
    length = config.text_config.max_position_embeddings
    PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=length, **specials).save_pretrained(folder)
    processor.save_pretrained(folder)
    front = f"---\nlicense: {licence}\n---\n" if licence else ""
    (folder / "README.md").write_text(f"{front}# A {size} {family} checkpoint with random weights\n")
    return folder

"""Image–text backbones (CLIP, SigLIP) as bundles: ONNX encoders + tokenizer, served without torch.

`shoplens.backbones.importer` (torch + transformers) turns a local Hugging Face checkpoint into a bundle;
everything imported here runs on ONNX Runtime, `tokenizers`, numpy and Pillow only.
"""

from shoplens.backbones.config import BackboneConfig, read_config
from shoplens.backbones.runtime import ImageTextBackbone, load_backbone, logits, probabilities

__all__ = ["BackboneConfig", "ImageTextBackbone", "load_backbone", "logits", "probabilities", "read_config"]

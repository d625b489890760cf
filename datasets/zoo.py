"""The model zoo: networks built in code, and user models named ``module:function``.

Every entry builds a :class:`~lorien.dialects.TorchModel` (an ``eval()`` module and example
inputs) on demand; nothing is downloaded and nothing is built at import time.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from lorien.dialects import TorchModel
from lorien.errors import InvalidInput

if TYPE_CHECKING:
    from torch.nn import Module


@dataclass(frozen=True)
class ZooEntry:
    """A network of the zoo: its name, what it is, how to build it at a batch size, and its
    architecture family (variants of one architecture, such as BERT at several sequence lengths,
    share one; evaluation holds a family out as a whole)."""

    name: str
    description: str
    build: Callable[[int], TorchModel]
    family: str = ""


def _image_model(name: str, factory: Callable[[], Module], size: int = 224) -> Callable[[int], TorchModel]:
    def build(batch: int) -> TorchModel:
        import torch

        torch.manual_seed(0)
        module = factory()
        _calibrate_batchnorm(module, size)
        module.eval()
        return TorchModel(module, (torch.randn(batch, 3, size, size),), name=name)

    return build


def _calibrate_batchnorm(module: Module, size: int) -> None:
    """Give every BatchNorm the running statistics of a batch of random images, as training would.

    With freshly initialised statistics (mean 0, variance 1) activations shrink layer after layer
    in a network without residual paths (MobileNetV2's classifier saw inputs of about 1e-7), so
    its outputs hardly depend on most of its kernels, and checking them against PyTorch would not
    notice a kernel that computes the wrong thing. The values are weights to the compiler: the
    kernels, and so the workload keys, do not change.
    """
    import torch

    norms = [m for m in module.modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average: after one batch, that batch's statistics
    module.train()
    with torch.no_grad():
        module(torch.randn(2, 3, size, size))


def _prompt_model(name: str, factory: Callable[[], Module], vocab: int, seq_len: int
                  ) -> Callable[[int], TorchModel]:
    """A language model (``factory`` builds it) reading ``seq_len`` token ids of a ``vocab``."""
    def build(batch: int) -> TorchModel:
        import torch

        torch.manual_seed(0)
        module = factory().eval()
        input_ids = torch.randint(0, vocab, (batch, seq_len), dtype=torch.int64)
        return TorchModel(module, (input_ids,), name=name)

    return build


def _audio_model(name: str, factory: Callable[[], Module], seconds: float) -> Callable[[int], TorchModel]:
    """A speech model (``factory`` builds it) hearing ``seconds`` of 16 kHz audio."""
    def build(batch: int) -> TorchModel:
        import torch

        from lorien.datasets.wav2vec2 import SAMPLE_RATE

        torch.manual_seed(0)
        module = factory().eval()
        return TorchModel(module, (torch.randn(batch, round(seconds * SAMPLE_RATE)),), name=name)

    return build


def _gpt2_decode(name: str, context: int) -> Callable[[int], TorchModel]:
    def build(batch: int) -> TorchModel:
        import torch

        from lorien.datasets.gpt2 import VOCAB, GPT2DecodeStep

        torch.manual_seed(0)
        module = GPT2DecodeStep().eval()
        input_ids = torch.randint(0, VOCAB, (batch, 1), dtype=torch.int64)
        decoder = module.decoder
        head_size = decoder.hidden // decoder.heads
        past = torch.randn(len(decoder.layers), 2, batch, decoder.heads, context, head_size)
        return TorchModel(module, (input_ids, past), name=name)

    return build


def _llama_decode(name: str, context: int) -> Callable[[int], TorchModel]:
    def build(batch: int) -> TorchModel:
        import torch

        from lorien.datasets.llama import VOCAB, LlamaDecodeStep

        torch.manual_seed(0)
        module = LlamaDecodeStep().eval()
        decoder = module.decoder
        past = torch.randn(len(decoder.layers), 2, batch, decoder.kv_heads, context, decoder.head_dim)
        input_ids = torch.randint(0, VOCAB, (batch, 1), dtype=torch.int64)
        return TorchModel(module, (input_ids, past), name=name)

    return build


def _zoo() -> dict[str, ZooEntry]:
    from lorien.datasets import (
        bert,
        convnets,
        convnext,
        deeplab,
        googlenet,
        gpt2,
        inception,
        inception_resnet,
        inception_v4,
        llama,
        mbconv,
        mixnet,
        regnet,
        resnet,
        separable,
        shufflenet,
        squeezenet,
        swin,
        unet,
        vit,
        wav2vec2,
    )

    entries = [
        ZooEntry("resnet18", "ResNet-18, 3x224x224 images", _image_model("resnet18", resnet.resnet18)),
        ZooEntry("resnet50", "ResNet-50, 3x224x224 images", _image_model("resnet50", resnet.resnet50)),
        ZooEntry("resnext50_32x4d", "ResNeXt-50 32x4d, 3x224x224 images",
                 _image_model("resnext50_32x4d", resnet.resnext50_32x4d)),
        ZooEntry("mobilenet_v2", "MobileNetV2, 3x224x224 images",
                 _image_model("mobilenet_v2", convnets.MobileNetV2)),
        ZooEntry("mobilenet_v1", "MobileNet (v1), width 1.0, 3x224x224 images",
                 _image_model("mobilenet_v1", separable.MobileNetV1)),
        ZooEntry("mobilenet_v3_large", "MobileNetV3-Large, 3x224x224 images",
                 _image_model("mobilenet_v3_large", mbconv.MobileNetV3.large), family="mobilenet_v3"),
        ZooEntry("mobilenet_v3_small", "MobileNetV3-Small, 3x224x224 images",
                 _image_model("mobilenet_v3_small", mbconv.MobileNetV3.small), family="mobilenet_v3"),
        ZooEntry("efficientnet_b0", "EfficientNet-B0, 3x224x224 images",
                 _image_model("efficientnet_b0", mbconv.efficientnet_b0), family="efficientnet"),
        ZooEntry("efficientnet_lite0", "EfficientNet-Lite0 (ReLU6, no squeeze-and-excite), 3x224x224 images",
                 _image_model("efficientnet_lite0", mbconv.efficientnet_lite0), family="efficientnet"),
        ZooEntry("efficientnet_b3", "EfficientNet-B3, 3x300x300 images",
                 _image_model("efficientnet_b3", mbconv.efficientnet_b3, size=300), family="efficientnet"),
        ZooEntry("mixnet_s", "MixNet-S (mixed 3x3 to 11x11 depthwise kernels), 3x224x224 images",
                 _image_model("mixnet_s", mixnet.MixNet.small), family="mixnet"),
        ZooEntry("mixnet_m", "MixNet-M (mixed 3x3 to 9x9 depthwise kernels), 3x224x224 images",
                 _image_model("mixnet_m", mixnet.MixNet.medium), family="mixnet"),
        ZooEntry("mnasnet1_0", "MnasNet-1.0, 3x224x224 images", _image_model("mnasnet1_0", mbconv.MNASNet)),
        ZooEntry("regnet_y_400mf", "RegNetY-400MF, 3x224x224 images",
                 _image_model("regnet_y_400mf", regnet.RegNetY)),
        ZooEntry("squeezenet1_1", "SqueezeNet 1.1, 3x224x224 images",
                 _image_model("squeezenet1_1", squeezenet.SqueezeNet)),
        ZooEntry("xception", "Xception, 3x299x299 images",
                 _image_model("xception", separable.Xception, size=299)),
        ZooEntry("wide_resnet50_2", "Wide ResNet-50-2, 3x224x224 images",
                 _image_model("wide_resnet50_2", resnet.wide_resnet50_2), family="resnet50"),
        ZooEntry("alexnet", "AlexNet, 3x224x224 images", _image_model("alexnet", convnets.AlexNet)),
        ZooEntry("vgg16", "VGG-16, 3x224x224 images", _image_model("vgg16", convnets.VGG16)),
        ZooEntry("densenet121", "DenseNet-121, 3x224x224 images",
                 _image_model("densenet121", convnets.DenseNet121)),
        ZooEntry("googlenet", "GoogLeNet (Inception v1), 3x224x224 images",
                 _image_model("googlenet", googlenet.GoogLeNet)),
        ZooEntry("inception_v3", "Inception-v3, 3x299x299 images",
                 _image_model("inception_v3", inception.InceptionV3, size=299)),
        ZooEntry("inception_v4", "Inception-v4, 3x299x299 images",
                 _image_model("inception_v4", inception_v4.InceptionV4, size=299)),
        ZooEntry("inception_resnet_v2", "Inception-ResNet-v2, 3x299x299 images",
                 _image_model("inception_resnet_v2", inception_resnet.InceptionResNetV2, size=299)),
        ZooEntry("convnext_tiny", "ConvNeXt-T, 3x224x224 images",
                 _image_model("convnext_tiny", convnext.convnext_tiny)),
        ZooEntry("vit_b16", "ViT-B/16, 3x224x224 images", _image_model("vit_b16", vit.vit_b16)),
        ZooEntry("swin_t", "Swin-T (shifted 7x7 windows), 3x224x224 images",
                 _image_model("swin_t", swin.SwinTransformer)),
        ZooEntry("shufflenet_v2_x1_0", "ShuffleNetV2 1.0x, 3x224x224 images",
                 _image_model("shufflenet_v2_x1_0", shufflenet.ShuffleNetV2)),
        ZooEntry("unet", "U-Net (64-1024 channels, padded), 3x256x256 images, 2 classes a pixel",
                 _image_model("unet", unet.UNet, size=256)),
        ZooEntry("deeplabv3_resnet50", "DeepLabv3, ResNet-50 backbone at output stride 16, 3x256x256 "
                 "images, 21 classes a pixel",
                 _image_model("deeplabv3_resnet50", deeplab.DeepLabV3, size=256)),
        ZooEntry("wav2vec2_base_2s", "wav2vec 2.0 Base with a CTC head, 2 seconds of 16 kHz audio",
                 _audio_model("wav2vec2_base_2s", wav2vec2.Wav2Vec2, seconds=2.0), family="wav2vec2"),
    ]
    entries += [
        ZooEntry(f"bert_base_s{seq}", f"BERT-base encoder, 12 layers, {seq} tokens",
                 _prompt_model(f"bert_base_s{seq}", bert.BertEncoder, bert.VOCAB, seq), family="bert_base")
        for seq in (64, 128, 256)
    ]
    entries += [
        ZooEntry(f"gpt2_s{seq}", f"GPT-2 (124M) reading a {seq}-token prompt, every position's logits",
                 _prompt_model(f"gpt2_s{seq}", partial(gpt2.GPT2Prefill, seq), gpt2.VOCAB, seq),
                 family="gpt2")
        for seq in (128, 512)
    ]
    entries.append(ZooEntry("gpt2_decode_c256", "GPT-2 (124M) generating: one token after 256 cached ones",
                            _gpt2_decode("gpt2_decode_c256", 256), family="gpt2"))
    entries += [
        ZooEntry("smollm_s256", "LLaMA-style decoder, SmolLM-135M's shapes, reading a 256-token prompt",
                 _prompt_model("smollm_s256", partial(llama.LlamaPrefill, 256), llama.VOCAB, 256),
                 family="smollm"),
        ZooEntry("smollm_decode_c512", "LLaMA-style decoder, SmolLM-135M's shapes, generating: one token "
                 "after 512 cached ones", _llama_decode("smollm_decode_c512", 512), family="smollm"),
    ]
    return {entry.name: entry for entry in entries}


def zoo_names() -> list[str]:
    """Names of the zoo's networks."""
    return sorted(_zoo())


def zoo_entries() -> list[ZooEntry]:
    return [entry for _, entry in sorted(_zoo().items())]


def model_family(name: str) -> str:
    """The architecture family of a zoo network; any other name is its own family."""
    entry = _zoo().get(name)
    return entry.family or entry.name if entry else name


def family_workloads(networks: Mapping[str, Iterable[str]], network: str) -> set[str]:
    """The workload keys of ``networks`` (key -> ``model@batch`` names, as
    :func:`lorien.datasets.campaign.read_networks` reads a data set's manifests) that occur in a
    network of ``network``'s family: what to leave out to treat the family as unseen."""
    family = model_family(network)
    return {key for key, names in networks.items()
            if any(model_family(name.split("@")[0]) == family for name in names)}


def load_model(spec: str, batch: int = 1) -> object:
    """Build the model ``spec`` names.

    ``spec`` is a zoo name (``resnet18``), or ``package.module:function`` / ``path/file.py:function``
    naming a function that takes no argument and returns a :class:`TorchModel`, a
    ``(torch.nn.Module, example_inputs)`` pair, or a compiler IR module (a TVM Relax IRModule).

    Raises:
        InvalidInput: unknown name, or the function cannot be loaded or returns something else.
    """
    if batch < 1:
        raise InvalidInput(f"batch must be at least 1, got {batch}")
    zoo = _zoo()
    if spec in zoo:
        return zoo[spec].build(batch)
    if ":" not in spec:
        raise InvalidInput(
            f"unknown model {spec!r}; the zoo has {', '.join(sorted(zoo))}, "
            "or name a function as module:function or file.py:function"
        )
    factory = _load_factory(spec)
    try:
        made = factory()
    except Exception as exc:
        raise InvalidInput(f"model function {spec!r} failed: {exc!r}") from exc
    if isinstance(made, tuple) and len(made) == 2:
        module, inputs = made
        return TorchModel(module, tuple(inputs) if isinstance(inputs, list | tuple) else (inputs,),
                          name=spec)
    return made


def _load_factory(spec: str) -> Callable[[], object]:
    location, _, attribute = spec.rpartition(":")
    try:
        if location.endswith(".py"):
            path = Path(location).expanduser().resolve()
            if not path.is_file():
                raise InvalidInput(f"model file {location!r} does not exist")
            module_spec = importlib.util.spec_from_file_location(f"lorien_user_model_{path.stem}", path)
            if module_spec is None or module_spec.loader is None:
                raise InvalidInput(f"cannot load model file {location!r}")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_spec.name] = module
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(location)
    except InvalidInput:
        raise
    except Exception as exc:
        raise InvalidInput(f"cannot import {location!r}: {exc!r}") from exc
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise InvalidInput(f"{location!r} has no function {attribute!r}")
    return factory

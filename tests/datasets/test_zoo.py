"""The model zoo and user models named module:function or file.py:function."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorien.datasets.zoo import family_workloads, load_model, model_family, zoo_names
from lorien.dialects import TorchModel
from lorien.errors import InvalidInput


def test_zoo_networks_build_at_any_batch() -> None:
    assert {"resnet18", "resnet50"} <= set(zoo_names())
    model = load_model("resnet18", batch=2)
    assert isinstance(model, TorchModel)
    assert tuple(model.example_inputs[0].shape) == (2, 3, 224, 224)
    assert tuple(model.module(*model.example_inputs).shape) == (2, 1000)


#: Parameter counts of the reference implementations (torchvision's, for the image networks
#: without Inception-v3's training-only auxiliary classifier; GPT-2's 124M release with its head
#: tied to the token embedding; SmolLM-135M's, its head tied too; MobileNet v1's and Xception's,
#: which torchvision lacks, Keras' trainable ones; MixNet's, EfficientNet-Lite0's, Inception-v4's and
#: Inception-ResNet-v2's, timm's): a network built in code with these counts has their layers.
PUBLISHED_PARAMETERS = {
    "resnet18": 11_689_512, "resnext50_32x4d": 25_028_904, "efficientnet_b0": 5_288_548,
    "efficientnet_b3": 12_233_232,
    "mobilenet_v3_large": 5_483_032, "inception_v3": 23_834_568, "convnext_tiny": 28_589_128,
    "vit_b16": 86_567_656, "gpt2_s128": 124_439_808, "gpt2_decode_c256": 124_439_808,
    "shufflenet_v2_x1_0": 2_278_604, "smollm_s256": 134_515_008, "smollm_decode_c512": 134_515_008,
    "swin_t": 28_288_354, "regnet_y_400mf": 4_344_144, "mnasnet1_0": 4_383_312,
    "mobilenet_v3_small": 2_542_856, "squeezenet1_1": 1_235_496, "mobilenet_v1": 4_231_976,
    "xception": 22_855_952, "googlenet": 6_624_904, "inception_v4": 42_679_816,
    "inception_resnet_v2": 55_843_464, "alexnet": 61_100_840, "wide_resnet50_2": 68_883_240,
    "efficientnet_lite0": 4_652_008,
    "mixnet_s": 4_134_606, "mixnet_m": 5_014_382,
}


@pytest.mark.parametrize("name", zoo_names())
def test_every_zoo_network_runs(name: str) -> None:
    import torch

    model = load_model(name, batch=2)
    assert isinstance(model, TorchModel)
    if name in PUBLISHED_PARAMETERS:
        assert sum(p.numel() for p in model.module.parameters()) == PUBLISHED_PARAMETERS[name]
    with torch.no_grad():
        out = model.module(*model.example_inputs)
    assert out.shape[0] == 2 and torch.isfinite(out).all()
    # the two inputs differ, and so must what the network computes from them: a network whose
    # activations fade away answers with its last bias whatever its kernels compute, and checking
    # a build's outputs against it would prove nothing
    assert (out[0] - out[1]).abs().max() > 0.05 * out.abs().max()


def test_zoo_covers_the_kinds_users_tune() -> None:
    names = set(zoo_names())
    assert {"resnet18", "resnet50", "resnext50_32x4d", "mobilenet_v2", "mobilenet_v3_large",
            "efficientnet_b0", "efficientnet_b3", "vgg16", "densenet121", "inception_v3", "convnext_tiny",
            "vit_b16", "shufflenet_v2_x1_0", "unet", "deeplabv3_resnet50", "wav2vec2_base_2s",
            "swin_t", "regnet_y_400mf", "mnasnet1_0", "mobilenet_v3_small", "squeezenet1_1",
            "mobilenet_v1", "xception", "googlenet", "mixnet_s", "mixnet_m"} <= names
    assert set(PUBLISHED_PARAMETERS) <= names  # each count is checked where its network runs
    assert {"bert_base_s64", "bert_base_s128", "bert_base_s256"} <= names
    assert {"gpt2_s128", "gpt2_s512", "gpt2_decode_c256"} <= names
    assert {model_family(name) for name in ("gpt2_s128", "gpt2_s512", "gpt2_decode_c256")} == {"gpt2"}
    assert {model_family(name) for name in ("smollm_s256", "smollm_decode_c512")} == {"smollm"}
    assert {model_family(name) for name in ("efficientnet_b0", "efficientnet_b3",
                                            "efficientnet_lite0")} == {"efficientnet"}
    assert {model_family(name) for name in ("resnet50", "wide_resnet50_2")} == {"resnet50"}
    assert {model_family(name) for name in ("mobilenet_v3_large", "mobilenet_v3_small")} == {"mobilenet_v3"}
    assert {model_family(name) for name in ("mixnet_s", "mixnet_m")} == {"mixnet"}


def test_a_family_s_workloads_are_those_of_any_of_its_networks_and_batches() -> None:
    networks = {"a": {"gpt2_s128@1"}, "b": {"gpt2_decode_c256@4", "resnet18@1"}, "c": {"resnet18@1"},
                "d": {"my_net@1"}}
    assert family_workloads(networks, "gpt2_s512") == {"a", "b"}
    assert family_workloads(networks, "resnet18") == {"b", "c"}
    assert family_workloads(networks, "my_net") == {"d"}  # a name the zoo lacks is its own family
    assert family_workloads(networks, "vgg16") == set()


def test_inputs_are_shaped_as_the_networks_are_used() -> None:
    inception, decode = load_model("inception_v3", batch=2), load_model("gpt2_decode_c256", batch=2)
    assert isinstance(inception, TorchModel) and isinstance(decode, TorchModel)
    assert tuple(inception.example_inputs[0].shape) == (2, 3, 299, 299)
    b3 = load_model("efficientnet_b3", batch=2)
    assert isinstance(b3, TorchModel) and tuple(b3.example_inputs[0].shape) == (2, 3, 300, 300)
    token, past = decode.example_inputs
    assert tuple(token.shape) == (2, 1) and tuple(past.shape) == (12, 2, 2, 12, 256, 64)
    llama = load_model("smollm_decode_c512", batch=2)
    assert isinstance(llama, TorchModel)
    assert tuple(llama.example_inputs[1].shape) == (30, 2, 2, 3, 512, 64)


def test_the_llama_decode_step_continues_the_prompt_as_the_prefill_reads_it() -> None:
    """A token generated after a cache of keys and values gets the logits the prompt's last position
    gets when the whole prompt is read at once: the cache and the rotary positions line up."""
    import torch

    from lorien.datasets.attention import causal_mask
    from lorien.datasets.llama import LlamaDecodeStep, LlamaPrefill, _rotate

    torch.manual_seed(0)
    prefill, step = LlamaPrefill(8).eval(), LlamaDecodeStep().eval()
    step.load_state_dict(prefill.state_dict())
    ids = torch.randint(0, 49152, (2, 8))
    decoder = prefill.decoder
    with torch.no_grad():
        expected = prefill(ids)[:, -1:]
        x, cos, sin = decoder.tokens(ids[:, :7]), decoder.cos[:7], decoder.sin[:7]
        mask = causal_mask(7)
        cache = []
        for layer in decoder.layers:
            h = layer.norm1(x)
            cache.append(torch.stack((_rotate(layer._split(layer.k(h), layer.kv_heads), cos, sin),
                                      layer._split(layer.v(h), layer.kv_heads))))
            x = layer(x, cos, sin, mask=mask)
        generated = step(ids[:, 7:], torch.stack(cache))
    assert generated.shape == (2, 1, 49152)
    assert torch.allclose(generated, expected, atol=1e-4, rtol=1e-4)


def test_squeezenet_leaves_the_odd_extents_of_its_reference() -> None:
    import torch

    model = load_model("squeezenet1_1")
    assert isinstance(model, TorchModel)
    module = model.module
    extents = []
    with torch.no_grad():
        x = model.example_inputs[0]
        for layer in module.features:
            x = layer(x)
            extents.append(x.shape[-1])
    # the unpadded stride-2 stem, then ceil-mode pooling: 111, 55, 27, 13
    assert sorted(set(extents), reverse=True) == [111, 55, 27, 13]


def test_xception_keeps_the_odd_extents_of_its_reference() -> None:
    import torch

    model = load_model("xception")
    assert isinstance(model, TorchModel)
    module = model.module
    with torch.no_grad():
        x = module.stem(model.example_inputs[0])
        extents = [x.shape[-1]]
        for block in module.blocks:
            x = block(x)
            extents.append(x.shape[-1])
    # the unpadded stem (149, 147), then each entry block and the exit halve it, rounding up
    assert sorted(set(extents), reverse=True) == [147, 74, 37, 19, 10]
    assert extents.count(19) == 9  # the last entry block and the eight middle ones


def test_inception_v4_keeps_the_unpadded_extents_of_its_reference() -> None:
    import torch

    model = load_model("inception_v4")
    assert isinstance(model, TorchModel)
    module = model.module
    with torch.no_grad():
        x = module.stem.convs(model.example_inputs[0])
        extents = [x.shape[-1]]
        x = module.stem(model.example_inputs[0])
        extents.append(x.shape[-1])
        for block in module.blocks:
            x = block(x)
            extents.append(x.shape[-1])
    # the stem's unpadded convolutions end at 147 and 35; each reduction block, unpadded too
    assert extents[:2] == [147, 35]
    assert sorted(set(extents), reverse=True) == [147, 35, 17, 8]
    assert (extents.count(35), extents.count(17), extents.count(8)) == (5, 8, 4)


def test_mixnet_splits_its_depthwise_convolutions_by_kernel() -> None:
    import torch

    from lorien.datasets.mixnet import MixedConv, split_channels

    assert split_channels(240, 5) == [48] * 5 and split_channels(100, 3) == [34, 33, 33]
    model = load_model("mixnet_s")
    assert isinstance(model, TorchModel)
    depthwise = {(m.in_channels, m.kernel_size[0], m.stride[0]) for m in model.module.modules()
                 if isinstance(m, torch.nn.Conv2d) and m.groups == m.in_channels > 1}
    # the first 200-channel block mixes five kernels over its 720 expanded channels at stride 2
    assert {(144, k, 2) for k in (3, 5, 7, 9, 11)} <= depthwise
    assert {k for _, k, _ in depthwise} == {3, 5, 7, 9, 11}
    # a mixed 1x1 convolution of two groups computes what a grouped convolution does
    mixed, grouped = MixedConv(8, 6, (1, 1)), torch.nn.Conv2d(8, 6, 1, groups=2, bias=False)
    with torch.no_grad():
        grouped.weight.copy_(torch.cat([conv.weight for conv in mixed.convs]))
        x = torch.randn(1, 8, 5, 5)
        assert torch.allclose(mixed(x), grouped(x), atol=1e-6)


def test_the_segmentation_network_answers_every_pixel() -> None:
    import torch

    model = load_model("unet")
    assert isinstance(model, TorchModel)
    assert tuple(model.example_inputs[0].shape) == (1, 3, 256, 256)
    # the expanding path's transposed convolutions bring every level back to the input's size
    transposed = [m for m in model.module.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.out_channels for m in transposed] == [512, 256, 128, 64]
    with torch.no_grad():
        assert tuple(model.module(*model.example_inputs).shape) == (1, 2, 256, 256)


def test_deeplab_dilates_its_last_stage_and_pyramid_and_answers_every_pixel() -> None:
    import torch

    model = load_model("deeplabv3_resnet50")
    assert isinstance(model, TorchModel)
    module = model.module
    # torchvision's deeplabv3_resnet50 has 42,004,074 parameters with its auxiliary head (a 3x3
    # convolution 1024 -> 256 with BatchNorm and a 1x1 one to the 21 classes: 2,365,205); the
    # backbone's classifier is built but unused here
    used = sum(p.numel() for name, p in module.named_parameters() if not name.startswith("backbone.fc."))
    assert used == 42_004_074 - 2_365_205
    dilations = sorted({m.dilation[0] for m in module.modules() if isinstance(m, torch.nn.Conv2d)})
    assert dilations == [1, 2, 6, 12, 18]
    with torch.no_grad():
        features = module.backbone.features(model.example_inputs[0])
        assert tuple(features.shape) == (1, 2048, 16, 16)  # output stride 16
        assert tuple(module(*model.example_inputs).shape) == (1, 21, 256, 256)


def test_wav2vec2_hears_raw_audio_one_frame_every_20_ms() -> None:
    import torch

    from lorien.datasets.wav2vec2 import frames

    model = load_model("wav2vec2_base_2s", batch=2)
    assert isinstance(model, TorchModel)
    assert tuple(model.example_inputs[0].shape) == (2, 32_000)
    assert frames(32_000) == 99 and frames(16_000) == 49
    # the feature encoder (4,200,448), the LayerNorm and projection to 768 (395,008), the grouped
    # position convolution (4,719,360) and the norm after it (1,536), 12 encoder layers (7,087,872
    # each) and the CTC head (24,608): the released Base model's 94.4 million, less what it also
    # holds (a mask embedding only pre-training uses; the position convolution's weight norm)
    assert sum(p.numel() for p in model.module.parameters()) == 94_395_424
    with torch.no_grad():
        assert tuple(model.module(*model.example_inputs).shape) == (2, 99, 32)


def test_swin_shifts_every_second_block_and_masks_what_the_roll_wraps() -> None:
    from lorien.datasets.swin import SwinTransformer, WindowAttention, _shift_mask

    attentions = [m for m in SwinTransformer().modules() if isinstance(m, WindowAttention)]
    # 2, 2, 6, 2 blocks; the last stage's 7x7 map is one window: nothing to shift
    assert [a.shift for a in attentions] == [0, 3] * 5 + [0, 0]
    mask = _shift_mask(56, 7, 3)
    assert tuple(mask.shape) == (64, 49, 49)
    # the windows of the last row or column hold positions the roll brought together: 15 of 64
    crossed = (mask != 0).flatten(1).any(1)
    assert int(crossed.sum()) == 15 and not crossed[:7].any()
    # a window of the last row holds two regions (4 and 3 rows: 28 and 21 positions), the
    # bottom-right one four (16, 12, 12 and 9): each position attends within its own
    assert sorted({int(n) for n in (mask[56] == 0).sum(1)}) == [21, 28]
    assert sorted({int(n) for n in (mask[63] == 0).sum(1)}) == [9, 12, 16]


def test_user_function_in_a_file_returning_a_pair(tmp_path: Path) -> None:
    source = tmp_path / "my_model.py"
    source.write_text(
        "import torch\n"
        "def build():\n"
        "    return torch.nn.Linear(8, 4).eval(), torch.randn(2, 8)\n"
    )
    model = load_model(f"{source}:build")
    assert isinstance(model, TorchModel)
    assert tuple(model.example_inputs[0].shape) == (2, 8)


def test_user_function_in_a_module() -> None:
    model = load_model("tests.tvm_models:small_mlp")
    assert isinstance(model, TorchModel) and model.name == "small_mlp"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("resnet1000", "unknown model"),
        ("no_such_module_xyz:f", "cannot import"),
        ("tests.tvm_models:nothing", "has no function"),
        ("/no/such/file.py:f", "does not exist"),
    ],
)
def test_bad_model_names(spec: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_model(spec)


def test_a_user_function_that_raises(tmp_path: Path) -> None:
    source = tmp_path / "broken.py"
    source.write_text("def build():\n    raise RuntimeError('boom')\n")
    with pytest.raises(InvalidInput, match="boom"):
        load_model(f"{source}:build")


def test_efficientnet_lite_is_built_at_lite0_scale_only() -> None:
    from lorien.datasets.mbconv import EfficientNet

    with pytest.raises(ValueError, match="Lite0"):
        EfficientNet(width=1.2, depth=1.4, lite=True)

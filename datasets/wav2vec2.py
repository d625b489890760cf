"""wav2vec 2.0 Base as a plain PyTorch module, built in code with random weights (no downloads).

Shapes follow Baevski et al., "wav2vec 2.0: A Framework for Self-Supervised Learning of Speech
Representations" (2020), the Base model as fine-tuned for speech recognition: raw 16 kHz audio
through seven 1-D convolutions of 512 channels (kernels 10, 3, 3, 3, 3, 2, 2; strides 5, 2, 2, 2,
2, 2, 2; GroupNorm after the first, GELU after each: one frame every 20 ms), LayerNorm and a
projection to 768, a grouped 1-D convolution as relative position embedding (kernel 128, 16
groups), 12 post-norm encoder layers (hidden 768, 12 heads, feed-forward 3072) and a linear
layer to 32 characters (CTC): 94.4 million parameters.
"""

from __future__ import annotations

from torch import Tensor, nn

from lorien.datasets.bert import EncoderLayer

SAMPLE_RATE = 16_000
CONV_LAYERS = ((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2))


def frames(samples: int) -> int:
    """Frames the feature encoder makes of ``samples`` audio samples."""
    for kernel, stride in CONV_LAYERS:
        samples = (samples - kernel) // stride + 1
    return samples


class FeatureEncoder(nn.Module):
    def __init__(self, channels: int = 512) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for index, (kernel, stride) in enumerate(CONV_LAYERS):
            layers.append(nn.Conv1d(cin, channels, kernel, stride, bias=False))
            if index == 0:
                layers.append(nn.GroupNorm(channels, channels))
            layers.append(nn.GELU())
            cin = channels
        self.layers = nn.Sequential(*layers)

    def forward(self, audio: Tensor) -> Tensor:
        """batch x samples -> batch x channels x frames."""
        return self.layers(audio.unsqueeze(1))


class Wav2Vec2(nn.Module):
    """Character scores (batch x frames x ``vocab``) for batch x samples of 16 kHz audio."""

    def __init__(self, layers: int = 12, hidden: int = 768, heads: int = 12, ffn: int = 3072,
                 vocab: int = 32, position_kernel: int = 128, position_groups: int = 16) -> None:
        super().__init__()
        self.features = FeatureEncoder()
        self.feature_norm = nn.LayerNorm(512)
        self.projection = nn.Linear(512, hidden)
        self.positions = nn.Conv1d(hidden, hidden, position_kernel, padding=position_kernel // 2,
                                   groups=position_groups)
        self.norm = nn.LayerNorm(hidden)
        self.layers = nn.Sequential(*(EncoderLayer(hidden, heads, ffn) for _ in range(layers)))
        self.head = nn.Linear(hidden, vocab)

    def forward(self, audio: Tensor) -> Tensor:
        x = self.projection(self.feature_norm(self.features(audio).transpose(1, 2)))
        # An even kernel padded by half on both sides gives one position too many: drop the last.
        position = nn.functional.gelu(self.positions(x.transpose(1, 2))[:, :, :-1])
        x = self.norm(x + position.transpose(1, 2))
        return self.head(self.layers(x))

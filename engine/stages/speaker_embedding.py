"""CAM++ speaker embeddings in the form pyannote's diarisation pipeline calls.

pyannote asks for one embedding per (chunk, local speaker): a 10 s waveform and a
frame mask of where that speaker talks. CAM++ on a CPU costs about 0.02 s per
second of audio, so instead of embedding the whole masked window this embeds at
most ``max_seconds`` of the speaker's own speech (the middle of it), and skips
speakers with less than ``min_seconds`` (pyannote treats NaN as "no embedding").
Both are DiariseOptions (``embedding_max_seconds``, ``embedding_min_seconds``).
"""

from __future__ import annotations

import numpy as np
import torch
import torchaudio.compliance.kaldi as kaldi

SAMPLE_RATE = 16000
_FBANK_BINS = 80


class CamPlusPlusEmbedding:
    """Callable speaker embedding: (batch, 1, samples) + (batch, frames) masks -> (batch, 192)."""

    sample_rate = SAMPLE_RATE
    dimension = 192
    metric = "cosine"

    def __init__(
        self, network: torch.nn.Module, max_seconds: float = 3.0, min_seconds: float = 0.4
    ):
        self.network = network
        self.max_samples = int(max_seconds * SAMPLE_RATE)
        self.min_num_samples = int(min_seconds * SAMPLE_RATE)
        self.device = next(network.parameters()).device

    def _speech(self, waveform: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        samples = waveform.reshape(-1)
        if mask is not None:
            frames = mask.reshape(-1)
            index = torch.div(
                torch.arange(samples.shape[0]) * frames.shape[0],
                samples.shape[0],
                rounding_mode="floor",
            )
            samples = samples[frames[index] > 0.5]
        if samples.shape[0] > self.max_samples:
            start = (samples.shape[0] - self.max_samples) // 2
            samples = samples[start : start + self.max_samples]
        return samples

    def features(self, samples: torch.Tensor) -> torch.Tensor:
        """Mean-normalised 80-bin Kaldi fbank, as CAM++ was trained on."""
        feats = kaldi.fbank(
            samples.reshape(1, -1).float(),
            num_mel_bins=_FBANK_BINS,
            sample_frequency=SAMPLE_RATE,
            dither=0.0,
        )
        return feats - feats.mean(dim=0, keepdim=True)

    def embed_features(self, batch: list[torch.Tensor]) -> np.ndarray:
        """Embed fbank matrices; shorter ones are tiled to the longest (no zero padding)."""
        longest = max(f.shape[0] for f in batch)
        tiled = [f.repeat((longest + f.shape[0] - 1) // f.shape[0], 1)[:longest] for f in batch]
        with torch.inference_mode():
            out = self.network(torch.stack(tiled).to(self.device))
        result: np.ndarray = out.float().cpu().numpy()
        return result

    def __call__(self, waveforms: torch.Tensor, masks: torch.Tensor | None = None) -> np.ndarray:
        count = waveforms.shape[0]
        result = np.full((count, self.dimension), np.nan, dtype=np.float32)
        todo: list[int] = []
        feats: list[torch.Tensor] = []
        for i in range(count):
            speech = self._speech(waveforms[i], None if masks is None else masks[i])
            if speech.shape[0] < self.min_num_samples:
                continue
            todo.append(i)
            feats.append(self.features(speech))
        if todo:
            result[todo] = self.embed_features(feats)
        return result

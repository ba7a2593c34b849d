"""Multi-resolution encoder: a patch ViT over pyramid windows plus an image ViT at low res."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .vit import build_vit, tokens_to_map
from .windows import LEVEL_OVERLAPS, merge_windows, num_windows, split_windows, window_stride


def projection_block(in_ch: int, out_ch: int, upsamples: int) -> nn.Sequential:
    """1×1 projection (no bias) then ``upsamples`` ×2 deconvs (no bias); no norm/activation."""
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, 1, bias=False)]
    layers += [
        nn.ConvTranspose2d(out_ch, out_ch, 2, stride=2, bias=False) for _ in range(upsamples)
    ]
    return nn.Sequential(*layers)


def lowres_block(ch: int, upsamples: int) -> nn.Module:
    """Image-encoder map projection: one deconv with bias (Depth Pro), or a chain of them."""
    if upsamples == 0:
        return nn.Conv2d(ch, ch, 1)
    if upsamples == 1:
        return nn.ConvTranspose2d(ch, ch, 2, stride=2)
    return nn.Sequential(*[nn.ConvTranspose2d(ch, ch, 2, stride=2) for _ in range(upsamples)])


class MultiResEncoder(nn.Module):
    """x: float (B, 3, S, S) normalised -> five maps, high to low resolution.

    Output channels/resolutions: [decoder_features @ S/2, dims[0] @ S/4, dims[1] @ S/8,
    dims[2] @ S/16, dims[3] @ S/32]. All pyramid windows (35·B) go through the patch ViT in one
    batch.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        dims = cfg.encoder_dims
        steps = cfg.upsample_steps
        self.patch_encoder = build_vit(cfg)
        self.image_encoder = build_vit(cfg)
        self.upsample_latent0 = projection_block(d, cfg.decoder_features, steps["latent0"])
        self.upsample_latent1 = projection_block(d, dims[0], steps["latent1"])
        self.upsample0 = projection_block(d, dims[1], steps["level0"])
        self.upsample1 = projection_block(d, dims[2], steps["level1"])
        self.upsample2 = projection_block(d, dims[3], steps["level2"])
        self.upsample_lowres = lowres_block(d, steps["lowres"])
        self.fuse_lowres = nn.Conv2d(dims[3] + d, dims[3], 1)

    def _overlap_tokens(self, overlap: float) -> int:
        win = self.cfg.window_size
        return (win - window_stride(win, overlap)) // self.cfg.patch_size

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        cfg = self.cfg
        b, _, s, s2 = x.shape
        if s != cfg.working_size or s2 != cfg.working_size:
            raise ValueError(
                f"encoder input must be {cfg.working_size}×{cfg.working_size}, got {s}×{s2}"
            )
        win, grid = cfg.window_size, cfg.grid_size
        level1 = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
        level2 = F.interpolate(x, scale_factor=0.25, mode="bilinear", align_corners=False)
        n0 = num_windows(s, win, LEVEL_OVERLAPS[0])
        n1 = num_windows(s // 2, win, LEVEL_OVERLAPS[1])
        windows = torch.cat(
            [
                split_windows(x, win, LEVEL_OVERLAPS[0]),
                split_windows(level1, win, LEVEL_OVERLAPS[1]),
                level2,
            ],
            dim=0,
        )
        vit = self.patch_encoder
        final, hooks = vit.forward_intermediates(windows, indices=list(cfg.hook_blocks))
        maps = tokens_to_map(final, vit.num_prefix_tokens, grid)
        c0, c1 = n0 * n0 * b, n1 * n1 * b
        ov0, ov1 = self._overlap_tokens(LEVEL_OVERLAPS[0]), self._overlap_tokens(LEVEL_OVERLAPS[1])
        latent0 = merge_windows(hooks[0][:c0], n0, b, ov0)
        latent1 = merge_windows(hooks[1][:c0], n0, b, ov0)
        feat0 = merge_windows(maps[:c0], n0, b, ov0)
        feat1 = merge_windows(maps[c0 : c0 + c1], n1, b, ov1)
        feat2 = maps[c0 + c1 :]

        # channels_last for the projection convs (token maps already are; hooks are not)
        latent0, latent1, feat0, feat1, feat2 = (
            t.contiguous(memory_format=torch.channels_last)
            for t in (latent0, latent1, feat0, feat1, feat2)
        )
        img = self.image_encoder
        image_map = tokens_to_map(img.forward_features(level2), img.num_prefix_tokens, grid)
        lowres = torch.cat([self.upsample2(feat2), self.upsample_lowres(image_map)], dim=1)
        return [
            self.upsample_latent0(latent0),
            self.upsample_latent1(latent1),
            self.upsample0(feat0),
            self.upsample1(feat1),
            self.fuse_lowres(lowres),
        ]

"""Whole photos and moving sources (issue 27): the README's figures and the numbers in docs/whole-photos.md.

* the seam measure (``crop.paste_back.seam_step``) on a group photo made of the shared sample portraits
  (``tests/scenes.py``), in a still-driving run, for both blends: at the paste boundary and at every contour of
  the fade, with the pixels away from the faces compared too;
* time and memory per frame against the number of faces (each face's source state is cached once);
* docs/whole-photos-group.png (the group photo before, and after at three instants) and
  docs/whole-photos-video.png (video to video: source frames, driving frames, results), from real sample footage.

    PYTHONPATH=src .venv/bin/python benchmarks/whole_photos.py --shared ../shared
        [--checkpoint RUN/last.pth.tar --config RUN/config.yaml] [--figures docs] [--threads 1]

Without ``--checkpoint`` the bundled demo model animates (it knows shapes, not faces).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from animcli.crop import CropOptions, FacePaster, parse_faces, photo_faces, seam_step
from animcli.crop.paste_back import SEAM_LEVELS
from animcli.inference.animator import Animator
from animcli.media import open_video, read_image, resize, write_image
from animcli.models.base import TransferOptions
from animcli.models.graphs import StateLayout
from animcli.weights.loading import load_model
from animcli.workflows.animate_files import animate_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from scenes import clip_of, group_photo, still_clip  # noqa: E402

VOX = Path("samples") / "lia-demo" / "vox"


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def frames_of(path: Path) -> list[np.ndarray]:
    with open_video(path) as video:
        return list(video)


def seams(animator: Animator, group: Path, still: Path, work: Path) -> None:
    picture = read_image(group)
    faces = photo_faces(picture, parse_faces("all"), CropOptions(size=animator.size))
    print(f"\nseam in a still-driving run ({len(faces)} faces; grey levels above the photo's own local variation; "
          "contours of the blend weight from the outer edge 0 to the inner edge 0.999):")
    print("| blend | " + " | ".join(f"{level:g}" for level in SEAM_LEVELS) + " | max |Δ| away from the faces |")
    print("|---|" + "---|" * (len(SEAM_LEVELS) + 1))
    for blend in ("feather", "poisson"):
        out = work / f"still-{blend}"
        animate_files(animator, group, still, f"{out}/", faces="all", blend=blend, overwrite=True)
        result = frames_of(out)[0]
        weight = FacePaster(picture.shape, [f.box for f in faces], [f.head for f in faces]).weight_map()
        steps = [seam_step(picture, result, weight, levels=[level]) for level in SEAM_LEVELS]
        away = int(np.abs(result.astype(int) - picture)[weight == 0].max())
        print(f"| {blend} | " + " | ".join(f"{step:+.2f}" for step in steps) + f" | {away} |")


def scaling(animator: Animator, group: Path, driving: list[np.ndarray], repeats: int = 3) -> None:
    picture = read_image(group)
    faces = photo_faces(picture, parse_faces("all"), CropOptions(size=animator.size))
    state = animator.encode_source(faces[0].box.crop(picture, animator.size))
    state_bytes = sum(t.numel() * t.element_size() for t in StateLayout.of(state).flatten(state))
    print(f"\nper frame against the number of faces ({len(driving)} driving frames, best of {repeats}; source state "
          f"{state_bytes / 2**20:.2f} MiB per face, computed once):")
    print("| faces | animate, ms/frame | paste-back (feather), ms/frame | paste-back (poisson), ms/frame |")
    print("|---|---|---|---|")
    for count in range(1, len(faces) + 1):
        chosen = faces[:count]
        crops = [face.box.crop(picture, animator.size) for face in chosen]
        best = float("inf")
        predictions = None
        for _ in range(repeats):
            start = time.perf_counter()
            batches = list(animator.animate_many(crops, driving))
            best = min(best, (time.perf_counter() - start) / len(driving))
            predictions = batches
        pastes = []
        for blend in ("feather", "poisson"):
            paster = FacePaster(picture.shape, [f.box for f in chosen], [f.head for f in chosen], blend=blend)
            start = time.perf_counter()
            for batches in predictions:
                for i in range(len(batches[0].driving)):
                    paster.paste(picture, [batch.prediction_uint8[i] for batch in batches])
            pastes.append((time.perf_counter() - start) / len(driving))
        print(f"| {count} | {best * 1000:.1f} | {pastes[0] * 1000:.1f} | {pastes[1] * 1000:.1f} |")


def group_figure(animator: Animator, group: Path, driving_clip: Path, work: Path, figure: Path) -> None:
    out = work / "group"
    animate_files(animator, group, driving_clip, f"{out}/", faces="all", overwrite=True)
    results, driving = frames_of(out), frames_of(driving_clip)
    picks = [len(results) // 3, 2 * len(results) // 3, len(results) - 1]
    tiles = [label(read_image(group), "before")]
    for index in picks:
        frame = results[index].copy()
        thumb = resize(driving[index], 96, 96)
        frame[-100:-4, -100:-4] = thumb
        tiles.append(label(frame, f"after, frame {index} (driving frame inset)"))
    height, width = tiles[0].shape[:2]
    grid = np.concatenate([np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)], axis=0)
    write_image(figure, resize(grid, width, height))
    print(f"wrote {figure}")


def video_figure(animator: Animator, source: Path, driving: Path, work: Path, figure: Path, columns: int = 6) -> None:
    video, still = work / "v2v", work / "still-source"
    animate_files(animator, source, driving, f"{video}/", crop=True, paste_back=True, overwrite=True)
    sources, drivings, results = frames_of(source), frames_of(driving), frames_of(video)
    write_image(work / "first.png", sources[0])
    animate_files(animator, work / "first.png", driving, f"{still}/", crop=True, paste_back=True, overwrite=True)
    from_still = frames_of(still)
    picks = np.linspace(0, len(results) - 1, columns).round().astype(int)
    rows = []
    for name, frames in (("source video", sources), ("driving video", drivings), ("video to video", results),
                         ("still source (its frame 0)", from_still)):
        row = np.concatenate([resize(frames[i], 160, 160) for i in picks], axis=1)
        rows.append(label(row, name))
    write_image(figure, np.concatenate(rows, axis=0))
    print(f"wrote {figure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--config")
    parser.add_argument("--figures", type=Path)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = (load_model(args.checkpoint, args.config, device="cpu") if args.checkpoint
             else load_model(model="demo", device="cpu"))
    animator = Animator(model, TransferOptions(mode="relative"), backend="torch", threads=args.threads)
    print(f"model: {args.checkpoint or 'demo'} ({model.family}, {animator.size} px), {args.threads} threads")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        group = work / "group.png"
        write_image(group, group_photo(args.shared))
        talk = args.shared / VOX / "driving2.mp4"
        with open_video(talk) as video:
            first = next(iter(video))
        still = still_clip(first, work / "still", 3)
        driving_clip = clip_of(talk, work / "driving.mp4", 60)
        seams(animator, group, still, work)
        scaling(animator, group, frames_of(driving_clip)[:8])
        if args.figures is not None:
            group_figure(animator, group, driving_clip, work, args.figures / "whole-photos-group.png")
            source = clip_of(talk, work / "source.mp4", 60, start=150)
            other = clip_of(args.shared / VOX / "driving3.mov", work / "other.mp4", 60, fps=25, start=100)
            video_figure(animator, source, other, work, args.figures / "whole-photos-video.png")


if __name__ == "__main__":
    main()

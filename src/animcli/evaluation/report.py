"""Per-video and overall records of an evaluation, and their three renderings: a rich table (stderr),
a JSON document (stdout) and a PNG of the per-video score distribution (drawn with OpenCV)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from animcli.common.errors import AnimcliError
from animcli.evaluation.metrics import FrameBatch, Metric, RunningMean

#: Above this many videos the table shows only the overall row (every video is in the JSON).
MAX_TABLE_VIDEOS = 30


@dataclass
class VideoRecord:
    """Running per-frame means of every metric over one video (or, merged, over the whole test set)."""

    name: str
    frames: int = 0
    scores: dict[str, RunningMean] = field(default_factory=dict)

    def add(self, metrics: list[Metric], generated: np.ndarray, original: np.ndarray,
            pose: np.ndarray | None = None) -> None:
        """Score a batch of (B, H, W, 3) float frames in [0, 1] against their originals (the video's batches in
        order); ``pose``: the driving pose a model rendered them from."""
        if generated.shape != original.shape:
            shapes = f"generated {generated.shape[1:3]}, original {original.shape[1:3]}"
            raise AnimcliError(f"{self.name}: frame sizes differ ({shapes})")
        if self.frames == 0:
            for metric in metrics:
                metric.new_video()
        generated_batch, original_batch = FrameBatch(generated, pose), FrameBatch(original)
        for metric in metrics:
            self.scores.setdefault(metric.name, RunningMean()).add(
                metric.frame_values(generated_batch, original_batch))
        self.frames += len(generated)

    def merge(self, other: VideoRecord) -> None:
        self.frames += other.frames
        for name, score in other.scores.items():
            self.scores.setdefault(name, RunningMean()).merge(score)

    def as_dict(self) -> dict[str, Any]:
        return {
            "video": self.name,
            "frames": self.frames,
            "scores": {name: score.mean for name, score in self.scores.items()},
            # Frames where the metric was defined (AKD/AED: a face found in both frames).
            "scored_frames": {name: score.count for name, score in self.scores.items()},
        }


@dataclass
class Report:
    metrics: list[Metric]
    unavailable: dict[str, str]
    videos: list[VideoRecord]
    #: what was evaluated (mode, model, data…), copied into the JSON as is.
    context: dict[str, Any]

    def overall(self) -> VideoRecord:
        """The protocol's numbers: means over all frames of all videos."""
        total = VideoRecord("overall")
        for record in self.videos:
            total.merge(record)
        return total

    def video_values(self, name: str) -> list[float]:
        return [score for record in self.videos if (score := record.scores[name].mean) is not None]

    def as_dict(self) -> dict[str, Any]:
        overall = self.overall().as_dict()
        del overall["video"]
        overall["videos"] = len(self.videos)
        # LIA's evaluation averages per-video means instead; identical when all videos have equal length.
        overall["video_mean_scores"] = {
            metric.name: statistics.fmean(values) if (values := self.video_values(metric.name)) else None
            for metric in self.metrics
        }
        metrics = {metric.name: {"title": metric.title, "description": metric.description, "available": True}
                   for metric in self.metrics}
        metrics |= {name: {"available": False, "reason": reason} for name, reason in self.unavailable.items()}
        return {**self.context, "metrics": metrics, "videos": [self._record_dict(record) for record in self.videos],
                "overall": overall | self._unscored(self.overall())}

    def _unscored(self, record: VideoRecord) -> dict[str, Any]:
        """``{"unscored": {metric: why}}`` for the metrics without a score in ``record`` (nothing if none)."""
        reasons = {metric.name: metric.unscored_reason() for metric in self.metrics
                   if record.scores[metric.name].mean is None}
        return {"unscored": reasons} if reasons else {}

    def _record_dict(self, record: VideoRecord) -> dict[str, Any]:
        return record.as_dict() | self._unscored(record)

    def print_table(self, console: Any, explain_unscored: bool = True) -> None:
        """A rich table (per video when there are few, always the overall row) and the metrics without a score:
        each with its reason when they were asked for (``explain_unscored``), else named on one line."""
        from rich.table import Table

        table = Table(title="reconstruction" if self.context.get("mode") == "reconstruction" else "scores")
        table.add_column("video")
        table.add_column("frames", justify="right")
        for metric in self.metrics:
            table.add_column(metric.title, justify="right")
        if len(self.videos) <= MAX_TABLE_VIDEOS:
            for record in self.videos:
                table.add_row(*self._row(record))
            table.add_section()
        table.add_row(*self._row(self.overall()), style="bold")
        console.print(table)
        if len(self.videos) > MAX_TABLE_VIDEOS:
            console.print(f"{len(self.videos)} videos: per-video scores are in the --json report")
        unscored = [metric for metric in self.metrics
                    if any(record.scores[metric.name].mean is None for record in [*self.videos, self.overall()])]
        if not explain_unscored:
            if self.unavailable or unscored:
                names = [*self.unavailable, *(metric.name for metric in unscored)]
                console.print(f"[dim]not scored here: {', '.join(names)} (--json says why; --metrics chooses)[/dim]")
            return
        for name, reason in self.unavailable.items():
            console.print(f"[dim]{name}: unavailable ({reason})[/dim]")
        for metric in unscored:
            console.print(f"[dim]{metric.title} –: {metric.unscored_reason()}[/dim]")

    def _row(self, record: VideoRecord) -> list[str]:
        means = [record.scores[metric.name].mean for metric in self.metrics]
        return [record.name, str(record.frames), *("–" if mean is None else f"{mean:.4f}" for mean in means)]

    def distribution_image(self) -> np.ndarray:
        """One panel per metric with scores: histogram of the per-video scores, each video as a dot below,
        the overall mean as a red line."""
        panels = [_distribution_panel(metric.title, values, self.overall().scores[metric.name].mean)
                  for metric in self.metrics if (values := self.video_values(metric.name))]
        if not panels:
            return _distribution_panel("no metric produced a score", [], None)
        return np.concatenate(panels, axis=0)

    def write_distribution(self, path: Path) -> Path:
        from animcli.media import write_image

        return write_image(path, self.distribution_image())


PANEL_WIDTH, PANEL_HEIGHT, MARGIN, BINS = 640, 200, 40, 20


def _distribution_panel(title: str, values: list[float], mean: float | None) -> np.ndarray:
    import cv2

    panel = np.full((PANEL_HEIGHT, PANEL_WIDTH, 3), 255, np.uint8)
    _put_text(panel, f"{title}  ({len(values)} videos)", (MARGIN, 22), 0.55)
    if not values:
        return panel
    low, high = min(values), max(values)
    if high - low < 1e-12:  # a single value: centre it in a small range around it
        low, high = low - 0.5 * max(abs(low), 1e-3), high + 0.5 * max(abs(high), 1e-3)
    plot_left, plot_right, axis_y = MARGIN, PANEL_WIDTH - MARGIN, PANEL_HEIGHT - 60

    def x_of(value: float) -> int:
        return round(plot_left + (value - low) / (high - low) * (plot_right - plot_left))

    counts, edges = np.histogram(values, bins=BINS, range=(low, high))
    bar_top = 36
    for count, left, right in zip(counts, edges[:-1], edges[1:], strict=True):
        if count:
            top = round(axis_y - count / counts.max() * (axis_y - bar_top))
            cv2.rectangle(panel, (x_of(left), top), (x_of(right) - 1, axis_y), (190, 190, 190), cv2.FILLED)
    cv2.line(panel, (plot_left, axis_y), (plot_right, axis_y), (0, 0, 0), 1)
    # Strip plot: one dot per video, spread vertically by a fixed pattern so identical scores stay visible.
    for index, value in enumerate(values):
        centre = (x_of(value), axis_y + 10 + (index * 7) % 18)
        cv2.circle(panel, centre, 2, (200, 90, 30), cv2.FILLED, cv2.LINE_AA)
    if mean is not None:
        cv2.line(panel, (x_of(mean), bar_top), (x_of(mean), axis_y + 30), (220, 30, 30), 1)
    for value in (low, (low + high) / 2, high):
        label = f"{value:.4g}"
        width = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)[0][0]
        _put_text(panel, label, (x_of(value) - width // 2, PANEL_HEIGHT - 8), 0.45)
    return panel


def _put_text(panel: np.ndarray, text: str, origin: tuple[int, int], scale: float) -> None:
    import cv2

    cv2.putText(panel, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)


"""One benchmark row: the reports of its fresh processes, and the statistics the tables use."""

from __future__ import annotations

import statistics
from dataclasses import dataclass


@dataclass
class Run:
    """One variant: the worker's JSON report from each fresh process (one per round)."""

    name: str
    mode: str
    image_set: str
    preset: str
    workers: int | None
    tuning: str
    jobs_budget_mb: int | None
    group: str
    samples: list[dict]
    output_dir: str  # round 0's outputs

    @property
    def data(self) -> dict:
        return self.samples[0]

    @property
    def images(self) -> int:
        return self.data["images"]

    @property
    def seconds_per_image_each(self) -> list[float]:
        return [sample["wall_seconds"] / self.images for sample in self.samples]

    @property
    def seconds_per_image(self) -> float:
        return statistics.median(self.seconds_per_image_each)

    @property
    def best_seconds_per_image(self) -> float:
        return min(self.seconds_per_image_each)

    @property
    def images_per_second(self) -> float:
        """Best round: the machine's slow spells only ever add time."""
        return 1 / self.best_seconds_per_image

    @property
    def foreign_each(self) -> list[float]:
        return [sample["foreign_cores"] for sample in self.samples]

    @property
    def peak_each(self) -> list[float]:
        return [sample["peak_rss_mb"] for sample in self.samples]

    @property
    def peak_mb(self) -> float:
        return statistics.median(self.peak_each)

    @property
    def output_bytes(self) -> int:
        return self.data["output_bytes"]

    def median_of(self, key: str) -> float:
        return statistics.median(sample[key] for sample in self.samples)

    @property
    def latency(self) -> float:
        return statistics.median(t for sample in self.samples for t in sample["per_image_seconds"])


def spread(values: list[float], digits: int, suffix: str = "") -> str:
    """The median, then every round's value when there is more than one."""
    text = f"{statistics.median(values):.{digits}f}{suffix}"
    if len(values) > 1:
        text += " (" + ", ".join(f"{value:.{digits}f}" for value in values) + ")"
    return text


def ratios(ours: list[float], theirs: list[float]) -> list[float]:
    """Round-by-round ratios: round i of one variant against round i of the other."""
    return [a / b for a, b in zip(ours, theirs, strict=True)]

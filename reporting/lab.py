"""The offloading lab over a set of runs: each run's setting and link, its accuracy against one reference,
the what-if model calibrated on the measured runs and its error on every emulated run, and summary.json.

- The reference: a COCO file (`ground_truth`), else the run labelled `reference`, else the full-size
  local run (a --local run without --resize or --quality), when there is one.
- The local baseline of the what-if and the verdict: the full-size local run, else the first local run.
- A setting is what the edge sends: mode, --resize, --quality, and the requests in flight. Each remote
  setting gets one profile for the break-even map: the samples of all its runs, each run's own emulated
  link taken out. An emulated run is predicted from the other runs of its setting when there are any
  (out of sample), else from itself (in sample, flagged as such).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from client.records import MB
from measure.stats import Spread, spread
from reporting.accuracy import DEFAULT_TRUTH_MIN_SCORE, Accuracy, Truth, score, truth_from_coco, truth_from_records
from reporting.data import Series
from reporting.whatif import Prediction, Profile, Sample, predict, predict_local, relative_error

SettingKey = tuple[str, int | None, int | None, int, str | None]  # mode, resize, quality, in flight, model


def setting_key(s: Series) -> SettingKey:
    """What the edge sends in this run, how many requests it keeps in flight, and which model answers."""
    return (s.mode, s.resize, s.quality, s.concurrency, s.model_handle)


def setting_text(s: Series) -> str:
    """`upload at 320 px, q75`, `upload at full size`, `local at full size, q50`, `path`."""
    if s.mode == "path":
        where = "path mode"
    else:
        size = f"{s.resize} px" if s.resize is not None else "full size"
        where = f"{s.mode} at {size}" + (f", q{s.quality}" if s.quality is not None else "")
    if not s.is_local and s.concurrency > 1:
        where += f", {s.concurrency} in flight"
    if s.model_text:  # runs of different models side by side: small on the device, big on the node
        where += f" {s.model_text}"
    return where


def link_text(s: Series) -> str:
    """`1 MB/s + 40 ms`, `1 MB/s`, `+40 ms`, `no emulated link`, or `-` for a local run."""
    if s.is_local:
        return "-"
    parts = []
    if s.bandwidth_mbps:
        parts.append(f"{s.bandwidth_mbps:g} MB/s")
    if s.rtt_ms:
        parts.append(f"+{s.rtt_ms:g} ms")
    return " ".join(parts) if parts else "no emulated link"


def link_words(s: Series) -> str:
    """The link in a sentence: `over 1 MB/s with a 50 ms round trip`, `with no emulated link`."""
    bandwidth = f"{s.bandwidth_mbps:g} MB/s" if s.bandwidth_mbps else None
    rtt = f"a {s.rtt_ms:g} ms round trip" if s.rtt_ms else None
    if bandwidth and rtt:
        return f"over {bandwidth} with {rtt}"
    if bandwidth:
        return f"over {bandwidth}"
    return f"with {rtt}" if rtt else "with no emulated link"


def _emulation(s: Series) -> tuple[float, float]:
    """Sort key: the least emulated first (no limit, then the fastest link, then the shortest round trip)."""
    return (1.0 / (s.bandwidth_mbps or float("inf")), s.rtt_ms or 0.0)


@dataclass
class Validation:
    """The what-if model against one emulated run."""

    predicted: Prediction
    measured: float  # mean seconds per image of the run
    calibrated_from: str  # which runs' samples the prediction used
    in_sample: bool  # True when that is the run itself (no other run of its setting)
    link_only: Prediction  # the same, but with the run's own encode and node times: the link model alone
    measured_rate: float  # images/s of the run

    @property
    def error(self) -> float:
        """(predicted - measured) / measured, on the mean per-image time."""
        return relative_error(self.predicted.mean, self.measured)

    @property
    def link_error(self) -> float:
        """The error left when the node's and the encoder's times are the run's own: what the link model
        (S / B + L, and an overhead that does not change with the link) gets wrong by itself."""
        return relative_error(self.link_only.mean, self.measured)


@dataclass
class RunResult:
    """One run as the lab sees it."""

    series: Series
    per_image: Spread | None  # seconds, over ok images: encode + round trip
    bytes_sent_mean: float
    accuracy: Accuracy | None = None
    validation: Validation | None = None

    @property
    def name(self) -> str:
        """The run's label."""
        return self.series.name


@dataclass
class Lab:
    """Everything the lab sections of the report and summary.json show."""

    runs: list[RunResult]
    truth: Truth | None
    truth_note: str  # how the runs are scored, or why they are not
    local: RunResult | None  # the what-if's and the verdict's local baseline
    profiles: list[tuple[Profile, RunResult]] = field(default_factory=list)  # one per remote setting, for the map
    slowdown: float | None = None  # --device-slowdown

    def result(self, name: str) -> RunResult | None:
        """The run of that label."""
        return next((r for r in self.runs if r.name == name), None)


def _per_image(s: Series) -> Spread | None:
    return spread(r.per_image for r in s.records if r.ok)


def _bytes_mean(s: Series) -> float:
    ok = [r.bytes_sent for r in s.records if r.ok]
    return sum(ok) / len(ok) if ok else 0.0


def pick_reference(series: list[Series], label: str | None) -> Series | None:
    """The run the others are scored against: `label`, else the full-size local run (None if neither)."""
    if label is not None:
        found = next((s for s in series if s.name == label), None)
        if found is None:
            raise ValueError(
                f"--reference {label!r}: no run has that label (runs: {', '.join(s.name for s in series)})"
            )
        return found
    return next((s for s in series if s.is_local and not s.preprocessed and s.ok_by_file()), None)


def local_baseline(series: list[Series]) -> Series | None:
    """The full-size local run, else the first local run with ok images."""
    local = [s for s in series if s.is_local and s.ok_by_file()]
    return next((s for s in local if not s.preprocessed), local[0] if local else None)


def profile_of(s: Series) -> Profile:
    """The what-if samples of a remote run, its own emulated link taken out."""
    return Profile.from_records(s.name, s.records, s.bandwidth_mbps, s.rtt_ms, s.concurrency)


def own_node_times(own: Profile, calibration: Profile) -> Profile:
    """A run's own encode, bytes and node times with the calibration's mean overhead: predicting the run
    from this tests the link model alone, not the node's run-to-run drift."""
    other = sum(s.other for s in calibration.samples) / len(calibration.samples) if calibration.samples else 0.0
    samples = [Sample(s.encode, s.wire, s.server, other) for s in own.samples]
    return Profile(own.name, samples, own.concurrency)


def pooled(name: str, runs: list[Series]) -> Profile:
    """One profile from the samples of several runs of one setting (each with its own link taken out):
    more images per sample, and the node's run-to-run drift on a shared machine averaged out."""
    samples = [sample for s in runs for sample in profile_of(s).samples]
    return Profile(name, samples, runs[0].concurrency if runs else 1)


def analyse(
    series: list[Series],
    reference: str | None = None,
    ground_truth: Path | None = None,
    truth_min_score: float = DEFAULT_TRUTH_MIN_SCORE,
    slowdown: float | None = None,
) -> Lab:
    """Score every run, calibrate the what-if model, validate it on every emulated run."""
    runs = [RunResult(s, _per_image(s), _bytes_mean(s)) for s in series]
    truth: Truth | None = None
    if ground_truth is not None:
        truth = truth_from_coco(ground_truth)
        note = (
            f"Every run is scored against the ground truth `{ground_truth.name}` ({len(truth.images)} images, "
            f"{truth.objects} objects), matched by file name."
        )
    else:
        ref = pick_reference(series, reference)
        if ref is None:
            note = (
                "No run is scored: there is no full-size local run to use as the reference; give "
                "`--reference LABEL` or `--ground-truth FILE`."
            )
        else:
            truth = truth_from_records(ref.name, ref.records, truth_min_score)
            note = (
                f"Every run is scored against the detections of `{ref.name}` with a score of at least "
                f"{truth_min_score:g} ({truth.objects} objects on {len(truth.images)} images) as ground truth."
            )
    if truth is not None:
        for run in runs:
            run.accuracy = score(run.series.records, truth)

    remote = [r for r in runs if not r.series.is_local and r.series.ok_by_file()]
    by_setting: dict[SettingKey, list[RunResult]] = {}
    for run in remote:
        by_setting.setdefault(setting_key(run.series), []).append(run)
    profiles = []
    for group in by_setting.values():
        group.sort(key=lambda r: _emulation(r.series))
        base = group[0]
        name = setting_text(base.series).removeprefix("upload at ")
        profiles.append((pooled(name, [r.series for r in group]), base))
        for run in group:
            if not run.series.emulated or run.per_image is None:
                continue
            others = [g.series for g in group if g is not run]
            source = pooled(name, others or [run.series])
            rate = run.series.bandwidth_mbps * MB if run.series.bandwidth_mbps else None
            rtt = (run.series.rtt_ms or 0.0) / 1000
            told = (
                f"{len(others)} other run{'s' if len(others) > 1 else ''} of its setting"
                if others
                else "itself (in sample: no other run of its setting)"
            )
            run.validation = Validation(
                predict(source, rate, rtt),
                run.per_image.mean,
                told,
                in_sample=not others,
                link_only=predict(own_node_times(profile_of(run.series), source), rate, rtt),
                measured_rate=run.series.overall.rate,
            )
    local = local_baseline(series)
    baseline = next((r for r in runs if r.series is local), None)
    return Lab(runs, truth, note, baseline, profiles, slowdown)


def local_prediction(lab: Lab, slowdown: float = 1.0) -> Prediction | None:
    """The local baseline as the what-if model sees it (per-image times, `slowdown` times slower)."""
    if lab.local is None:
        return None
    times = [r.per_image for r in lab.local.series.records if r.ok and r.per_image is not None]
    return predict_local(times, slowdown) if times else None


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def _machines(s: Series) -> dict[str, Any]:
    """What ran the model in this run, by node (local: the sender's machine), from its run-info lines."""
    found: dict[str, Any] = {}
    for info in s.infos.values():
        if s.is_local:
            found["local"] = info.sender
        else:
            found.update({node: info.machine_of(node) for node in s.nodes if node in info.nodes})
    return found


def summary(lab: Lab) -> dict[str, Any]:
    """The summary.json document: one entry per run, and how the runs were scored and modelled."""
    runs = []
    for run in lab.runs:
        s = run.series
        v = run.validation
        runs.append(
            {
                "label": s.name,
                "log": s.path.name,
                "mode": s.mode,
                "setting": setting_text(s),
                "model": {"name": s.model, "handle": s.model_handle},
                "resize": s.resize,
                "quality": s.quality,
                "bandwidth_mbps": s.bandwidth_mbps,
                "rtt_ms": s.rtt_ms,
                "in_flight": s.concurrency,
                "images": s.overall.images,
                "ok": s.overall.ok,
                "failed": s.overall.failed,
                "per_image_ms": None
                if run.per_image is None
                else {
                    "mean": _ms(run.per_image.mean),
                    "p50": _ms(run.per_image.p50),
                    "p95": _ms(run.per_image.p95),
                },
                "images_per_s": round(s.overall.rate, 4),
                "bytes_sent_mean": round(run.bytes_sent_mean, 1),
                "accuracy": run.accuracy.as_dict() if run.accuracy is not None else None,
                "whatif_error": round(v.error, 4) if v is not None else None,
                "whatif": None
                if v is None
                else {
                    "predicted_ms": _ms(v.predicted.mean),
                    "measured_ms": _ms(v.measured),
                    "predicted_p95_ms": _ms(v.predicted.p95),
                    "predicted_images_per_s": round(v.predicted.rate, 4),
                    "measured_images_per_s": round(v.measured_rate, 4),
                    "link_error": round(v.link_error, 4),
                    "calibrated_from": v.calibrated_from,
                    "in_sample": v.in_sample,
                },
                "machines": _machines(s),
            }
        )
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "reference": lab.truth.name if lab.truth is not None else None,
        "truth_min_score": lab.truth.min_score if lab.truth is not None else None,
        "local_baseline": lab.local.name if lab.local is not None else None,
        "device_slowdown": lab.slowdown,
        "runs": runs,
    }

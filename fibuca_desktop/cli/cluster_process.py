"""``process ... --broker URL``: the planned batch on the cluster's workers, reported exactly as
a local batch (same progress bar, summary and ``--json``). Imported only with ``--broker``.

Ctrl-C revokes the photos not started yet (running ones finish); a second Ctrl-C stops waiting.
``--retries N`` sends the photos that failed again, up to N more rounds, each with its own
progress bar; the report holds each photo's last result.
A broker lost mid-batch is one line on stderr and exit status 1; photos already written are
whole (workers write atomically), the rest are reported failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from fibuca_desktop.cli.preflight_report import print_preflight
from fibuca_desktop.cli.process_command import (
    EXIT_FAILED,
    EXIT_OK,
    _print_summary,
    _report,
    limits_from,
)
from fibuca_desktop.cli.progress import ProgressBar
from fibuca_desktop.cluster.imports import require_celery
from fibuca_desktop.core.imaging.batch import BatchPlan
from fibuca_desktop.core.imaging.pipeline import FAILED, JobResult
from fibuca_desktop.core.imaging.presets import Preset
from fibuca_desktop.core.profiles.profiles import Profile


def run_on_workers(
    args: argparse.Namespace, plan: BatchPlan, preset: Preset, profile: Profile | None
) -> int:
    """Raises UsageError (a bad URL, no cluster extra) before anything is sent."""
    require_celery()
    from fibuca_desktop.cluster.broker_url import parse_broker_url
    from fibuca_desktop.cluster.errors import BrokerUnavailable
    from fibuca_desktop.cluster.job_spec import Settings
    from fibuca_desktop.cluster.submit import ClusterBatch

    broker = parse_broker_url(args.broker or None)
    settings = Settings(
        preset,
        args.model,
        limits_from(args),
        args.overwrite,
        not args.no_mask_cache,
        args.tuning,
        profile.name if profile else None,
    )
    bars = [ProgressBar(len(plan.jobs))]  # the batch's, then one per round of retries
    reported: set = set()

    def on_result(result: JobResult) -> None:
        if result.input in reported:  # cancelled, then done after all: counted once
            return
        reported.add(result.input)
        bars[-1].update(result.status, result.input.name, result.message)

    lost: BrokerUnavailable | None = None
    started = time.perf_counter()
    with ClusterBatch(broker, settings, on_result) as batch:
        try:
            batch.check()
        except BrokerUnavailable as error:  # nothing sent: nothing to report
            print(f"fibuca-desktop process: error: {error}", file=sys.stderr)
            return EXIT_FAILED
        if not batch.workers_online():
            print(
                "note: no worker answers yet; the photos wait in the queue until one starts "
                "(fibuca-desktop worker --broker URL)",
                file=sys.stderr,
            )
        try:
            batch.start(plan.jobs)
            batch.wait()
            for round_ in range(1, args.retries + 1):
                failed = [r.input for r in batch.results if r.status == FAILED]
                if not failed:
                    break
                print(
                    f"retry {round_} of {args.retries}: sending {len(failed)} failed "
                    f"photo{'s' if len(failed) != 1 else ''} again",
                    file=sys.stderr,
                )
                reported.difference_update(failed)
                bars.append(ProgressBar(len(failed), label=f"retry {round_} "))
                batch.retry_failed()
                batch.wait()
        except KeyboardInterrupt:
            cancelled = batch.cancel()
            print(
                f"\ncancelling: {len(cancelled)} queued photos revoked, running ones finish "
                "(Ctrl-C again stops waiting)",
                file=sys.stderr,
            )
            try:
                batch.wait()
            except KeyboardInterrupt:
                pass
            except BrokerUnavailable as error:
                lost = error
        except BrokerUnavailable as error:
            lost = error
        results = {r.input: r for r in batch.results}
        halted = batch.halted
    if lost is not None:
        print(f"fibuca-desktop process: error: {lost}", file=sys.stderr)
        for job in plan.jobs:
            if job.input not in results:
                message = "No result: the broker went away before this photo was reported."
                results[job.input] = JobResult(job, FAILED, message=message)
    seconds = time.perf_counter() - started
    report = _report(plan, list(results.values()), seconds)
    if halted:
        report["stopped_early"] = halted
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_summary(report, preset.name, f"on the workers of {broker.shown}")
        print_preflight(report)
    return EXIT_FAILED if report["failed"] or lost is not None else EXIT_OK

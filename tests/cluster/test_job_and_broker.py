"""The parts of the cluster that need no server: broker URLs and their passwords, path maps, a
job's JSON form, and the clean-up of a killed run's temporary file of one output."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from fibuca_desktop.cluster.app import make_app
from fibuca_desktop.cluster.broker_url import KEYRING_SERVICE, parse_broker_url
from fibuca_desktop.cluster.job_spec import PathMap, Settings, job_to_json, map_path
from fibuca_desktop.cluster.tasks import process_photo
from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.batch import Job
from fibuca_desktop.core.imaging.decode import Limits
from fibuca_desktop.core.imaging.output_records import clean_parts_of
from fibuca_desktop.core.imaging.presets import get_preset
from fibuca_desktop.core.profiles.profiles import get_profile
from tests import corpus

SECRET = "pa:ss/w@rd%"


def test_a_password_in_the_url_is_kept_for_celery_and_never_shown():
    broker = parse_broker_url("redis://:pa%3Ass%2Fw%40rd%25@cache.shop:6380/2")
    assert broker.password == SECRET
    assert broker.shown == "redis://:***@cache.shop:6380/2"
    assert SECRET not in repr(broker) and "pa%3A" not in repr(broker)
    assert str(broker) == broker.shown
    assert make_app(broker).conf.broker_url == broker.url  # the password reaches Celery
    message = f"could not log in to {broker.url} with {SECRET}"
    assert SECRET not in broker.redact(message) and "pa%3Ass" not in broker.redact(message)


def test_the_password_may_come_from_the_environment_or_the_keyring(monkeypatch, os_keyring):
    monkeypatch.setenv("FIBUCA_BROKER_URL", "redis://worker@cache.shop/0")
    monkeypatch.setenv("FIBUCA_BROKER_PASSWORD", SECRET)
    from_env = parse_broker_url(None)
    assert from_env.password == SECRET and from_env.shown == "redis://worker:***@cache.shop/0"

    monkeypatch.delenv("FIBUCA_BROKER_PASSWORD")
    os_keyring.set_password(KEYRING_SERVICE, "cache.shop:6379", SECRET)
    from_keyring = parse_broker_url("redis://cache.shop/0")
    assert from_keyring.password == SECRET and SECRET not in from_keyring.shown


def test_a_bad_broker_url_is_a_usage_error_without_its_password(monkeypatch):
    monkeypatch.delenv("FIBUCA_BROKER_URL", raising=False)
    with pytest.raises(UsageError, match="FIBUCA_BROKER_URL"):
        parse_broker_url(None)
    with pytest.raises(UsageError) as refused:
        parse_broker_url("http://:hunter2@cache.shop/0")
    assert "hunter2" not in str(refused.value) and "redis://HOST:6379/0" in str(refused.value)
    with pytest.raises(UsageError) as refused:
        parse_broker_url("redis://:hunter2@cache.shop:99999/0")
    assert "hunter2" not in str(refused.value)


def test_path_maps_translate_the_submitters_paths():
    maps = [PathMap.parse("/mnt/share=/Volumes/share"), PathMap.parse("/mnt/share/raw=/raw")]
    assert map_path("/mnt/share/shoes/a.jpg", maps) == Path("/Volumes/share/shoes/a.jpg")
    assert map_path("/mnt/share/raw/a.jpg", maps) == Path("/raw/a.jpg")  # the longest first
    assert map_path("/mnt/shared/a.jpg", maps) == Path("/mnt/shared/a.jpg")  # not under it
    assert map_path(r"S:\shoes\a.jpg", [PathMap.parse("S:=/mnt/s")]) == Path("/mnt/s/shoes/a.jpg")
    with pytest.raises(UsageError, match="FROM=TO"):
        PathMap.parse("/mnt/share")


def test_a_job_rebuilds_the_very_preset_and_profile_on_the_worker():
    preset = get_preset("square").with_options(background="#102030", fill=0.7, anchor="bottom")
    profile = get_profile("amazon")
    settings = Settings(preset, "u2netp", Limits(10, 20), True, False, "lean", None)
    job = job_to_json(Job(Path("/in/a.jpg"), Path("/out/a.jpg")), settings, existed=True)
    again = Settings.from_json(json.loads(json.dumps(job)))  # through JSON, as Celery sends it
    assert again == settings and again.preset == preset
    assert job["existed"] is True and job["input"] == "/in/a.jpg"

    with_profile = Settings(profile.preset, "u2netp", Limits(), profile=profile.name)
    rebuilt = Settings.from_json(json.loads(json.dumps(with_profile.to_json())))
    assert rebuilt.profile_object() == profile


def test_a_job_of_a_profile_this_worker_does_not_know_fails_with_why(tmp_path):
    settings = Settings(get_preset("web"), "u2netp", Limits(), profile="not-here")
    job = job_to_json(Job(tmp_path / "a.jpg", tmp_path / "out" / "a.jpg"), settings, False)
    result = process_photo(job)
    assert result["status"] == "failed" and "not-here" in result["message"]


def test_only_unheld_temporary_files_of_this_output_are_removed(tmp_path):
    output = tmp_path / "a.png"
    mine = tmp_path / ".a.png.k3j4h5g6.part"
    other = tmp_path / ".a.png.x.png.abcdefgh.part"  # the output "a.png.x.png"'s
    held = tmp_path / ".a.png.held1234.part"
    for path in (mine, other, held):
        path.write_bytes(b"half")
    old = time.time() - 7200
    os.utime(other, (old, old))
    import fcntl

    with open(held, "rb") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # a live writer (another worker) holds it
        assert clean_parts_of(output) == [mine]
    assert other.exists() and held.exists()


def test_a_redelivered_photo_rewrites_its_own_name_and_an_earlier_output_is_kept(
    tmp_path, u2netp_path
):
    """The task itself, on the real pipeline: run twice (a first delivery that wrote its file,
    then died before its result was stored), it rewrites the one name; a file that was there
    when the batch was planned is skipped as locally."""
    [photo] = corpus.copy_photos(tmp_path / "in", "car-1.jpg")
    job = Job(photo, tmp_path / "out" / "car-1.jpg")
    settings = Settings(get_preset("web"), "u2netp", Limits(), use_masks=False)

    first = process_photo(job_to_json(job, settings, existed=False))
    (tmp_path / "out" / ".car-1.jpg.deadbeef.part").write_bytes(b"half")  # a killed writer's
    again = process_photo(job_to_json(job, settings, existed=False))
    planned_over = process_photo(job_to_json(job, settings, existed=True))

    assert first["status"] == again["status"] == "processed", (first, again)
    assert planned_over["status"] == "skipped" and "already exists" in planned_over["message"]
    assert corpus.written_files(tmp_path / "out") == [job.output]
    assert corpus.leftovers(tmp_path / "out") == []


def test_a_job_from_another_version_fails_with_what_to_do(tmp_path):
    settings = Settings(get_preset("web"), "u2netp", Limits())
    job = job_to_json(Job(tmp_path / "a.jpg", tmp_path / "out" / "a.jpg"), settings, False)
    result = process_photo({**job, "v": 99})
    assert result["status"] == "failed" and "same Fibuca Desktop version" in result["message"]

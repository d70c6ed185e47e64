"""BatchPlan with a name template (issue 13, Naming): the template makes the stem, the plan still
owns every name (clashes in the queue and on disk, case-insensitively), and a preset change
re-plans the queued photos whose name it changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from fibuca_desktop.core.errors import UsageError
from fibuca_desktop.core.imaging.batch import BatchPlan, plan_batch
from fibuca_desktop.core.imaging.decode import Limits, decode, read_header
from fibuca_desktop.core.imaging.name_template import NameTemplate
from fibuca_desktop.core.imaging.output_naming import Naming, output_size
from fibuca_desktop.core.imaging.output_records import record_output
from fibuca_desktop.core.imaging.presets import get_preset
from fibuca_desktop.core.imaging.render import fit_within
from tests.conftest import PHOTOS

WEB, SQUARE, TRANSPARENT = get_preset("web"), get_preset("square"), get_preset("transparent")


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def naming(text: str, preset=WEB, profile: str = "amazon") -> Naming:
    return Naming(NameTemplate.parse(text), preset, profile)


def names(jobs) -> list[str]:
    return [job.output.name for job in jobs]


def test_two_inputs_that_render_alike_across_folders_get_numbered(tmp_path):
    out = tmp_path / "out"
    plan = BatchPlan(WEB.extension, naming("{stem}-{profile}"))
    [one] = plan.add([touch(tmp_path / "shoes" / "item.jpg")], out).jobs
    [two] = plan.add([touch(tmp_path / "bags" / "ITEM.png")], out).jobs
    assert (one.output.name, two.output.name) == ("item-amazon.jpg", "ITEM-amazon-2.jpg")


def test_a_constant_template_numbers_every_photo_in_one_folder(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.png"):
        touch(tmp_path / "in" / name)
    plan = plan_batch([tmp_path / "in"], tmp_path / "out", ".png", NameTemplate.parse("x"), WEB)
    assert sorted(names(plan.jobs)) == ["x-2.png", "x-3.png", "x.png"]


@pytest.mark.parametrize("existing", ["item-amazon.jpg", "ITEM-AMAZON.JPG", "Item-Amazon.jpg"])
def test_a_file_on_disk_that_we_did_not_make_is_never_planned_over(tmp_path, existing):
    touch(tmp_path / "out" / existing)
    template = NameTemplate.parse("{stem}-{profile}")
    photo = touch(tmp_path / "in" / "item.jpg")
    [job] = plan_batch([photo], tmp_path / "out", ".jpg", template, WEB, "amazon").jobs
    assert job.output.name == "item-amazon-2.jpg"


def test_another_photos_earlier_output_is_kept_and_the_same_photos_is_found_again(tmp_path):
    template = NameTemplate.parse("{stem}-{preset}")
    first = touch(tmp_path / "shoes" / "item.jpg")
    [earlier] = plan_batch([first], tmp_path / "out", ".jpg", template, WEB).jobs
    touch(earlier.output)
    record_output(earlier.output, earlier.input)
    second = touch(tmp_path / "bags" / "Item.jpg")
    [other] = plan_batch([second], tmp_path / "out", ".jpg", template, WEB).jobs
    assert other.output.name == "Item-web-2.jpg"
    [again] = plan_batch([first], tmp_path / "out", ".jpg", template, WEB).jobs
    assert again == earlier  # skipped, or replaced with overwrite: never a second copy


def test_n_counts_photos_in_plan_order_across_adds_and_keeps_them(tmp_path):
    plan = BatchPlan(".jpg", naming("{n:03}-{stem}"))
    first = plan.add(
        [touch(tmp_path / "a" / "x.jpg"), touch(tmp_path / "a" / "y.jpg")], tmp_path / "o"
    )
    second = plan.add([touch(tmp_path / "b" / "z.jpg")], tmp_path / "o")
    assert names(first.jobs) + names(second.jobs) == ["001-x.jpg", "002-y.jpg", "003-z.jpg"]
    changed = plan.retarget(plan.jobs, ".png", naming("{n:03}-{stem}", TRANSPARENT))
    assert sorted(new.output.name for new in changed.values()) == [
        "001-x.png",
        "002-y.png",
        "003-z.png",
    ]


def test_a_preset_change_replans_the_names_that_follow_it_even_with_one_extension(tmp_path):
    """web and square are both JPEG: only the template's {preset} tells them apart."""
    photo = touch(tmp_path / "in" / "item.jpg")
    plain = touch(tmp_path / "in" / "other.jpg")
    plan = BatchPlan(".jpg", naming("{stem}-{preset}"))
    [job] = plan.add([photo], tmp_path / "out").jobs
    assert job.output.name == "item-web.jpg"
    changed = plan.retarget([job], ".jpg", naming("{stem}-{preset}", SQUARE))
    assert {old.output.name: new.output.name for old, new in changed.items()} == {
        "item-web.jpg": "item-square.jpg"
    }
    assert names(plan.jobs) == ["item-square.jpg"]
    # A template without the preset in it keeps the names (nothing to re-plan)...
    plan = BatchPlan(".jpg", naming("{stem}-x"))
    jobs = plan.add([plain], tmp_path / "out2").jobs
    assert plan.retarget(jobs, ".jpg", naming("{stem}-x", SQUARE)) == {}
    # ...and dropping the template goes back to the inputs' own names.
    [(old, new)] = plan.retarget(jobs, ".jpg", None).items()
    assert (old.output.name, new.output.name) == ("other-x.jpg", "other.jpg")


def test_a_retarget_to_a_name_held_on_disk_takes_the_next_number(tmp_path):
    touch(tmp_path / "out" / "ITEM-SQUARE.JPG")  # the user's, case aside the same name
    plan = BatchPlan(".jpg", naming("{stem}-{preset}"))
    jobs = plan.add([touch(tmp_path / "in" / "item.jpg")], tmp_path / "out").jobs
    [new] = plan.retarget(jobs, ".jpg", naming("{stem}-{preset}", SQUARE)).values()
    assert new.output.name == "item-square-2.jpg"


def test_a_size_change_renames_queued_photos_with_width_and_height(tmp_path, photos):
    plan = BatchPlan(".jpg", naming("{stem}-{width}x{height}"))
    [job] = plan.add([photos / "car-1.jpg"], tmp_path / "out").jobs
    assert job.output.name == "car-1-480x360.jpg"  # 480x360 fits 800 already: its own size
    smaller = WEB.with_options(max_side=240)
    [new] = plan.retarget([job], ".jpg", naming("{stem}-{width}x{height}", smaller)).values()
    assert new.output.name == "car-1-240x180.jpg"


def test_a_name_the_values_cannot_make_refuses_the_add_and_plans_nothing(tmp_path):
    plan = BatchPlan(".jpg", naming("{stem}-{profile}", profile="eu/de"))
    with pytest.raises(UsageError, match=r"item\.jpg: The name template .* a slash"):
        plan.add([touch(tmp_path / "in" / "item.jpg")], tmp_path / "out")
    assert plan.jobs == []
    good = plan.retarget([], ".jpg", naming("{stem}-{profile}"))
    assert good == {}
    [job] = plan.add([tmp_path / "in" / "item.jpg"], tmp_path / "out").jobs
    assert job.output.name == "item-amazon.jpg"
    with pytest.raises(UsageError):  # a retarget that cannot name a job changes nothing
        plan.retarget([job], ".png", naming("{profile}", TRANSPARENT, profile=""))
    assert plan.jobs == [job] and plan.extension == ".jpg"


def test_an_unreadable_photo_is_named_0x0_and_left_to_fail_in_the_pipeline(tmp_path):
    plan = BatchPlan(".jpg", naming("{stem}-{width}x{height}"))
    [job] = plan.add([touch(tmp_path / "in" / "broken.jpg")], tmp_path / "out").jobs
    assert job.output.name == "broken-0x0.jpg"


@pytest.mark.parametrize("side", [800, 333, 97])
def test_output_size_is_what_the_pipeline_decodes_and_fits(side):
    """Same numbers as decode (JPEG draft mode) then fit_within, for every real photo."""
    preset = WEB.with_options(max_side=side)
    for photo in sorted(PHOTOS.glob("*.jpg")):
        image = decode(photo, Limits(), preset.decode_side()).image
        expected = fit_within(image, side).size
        assert output_size(preset, read_header(photo, Limits())) == expected, photo.name


def test_output_size_follows_exif_orientation_and_the_canvas(tmp_path):
    photo = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: stored 600x200, shown 200x600
    Image.new("RGB", (600, 200), (10, 20, 30)).save(photo, exif=exif.tobytes())
    header = read_header(photo, Limits())
    assert output_size(WEB.with_options(max_side=300), header) == (100, 300)
    assert output_size(TRANSPARENT, header) == (200, 600)
    assert output_size(SQUARE, header) == (1200, 1200)


def test_a_long_rendered_name_is_cut_to_fit_and_clashes_still_number(tmp_path):
    template = NameTemplate.parse("{stem}-" + "ß" * 200)  # 400 bytes in UTF-8
    for name in ("a.jpg", "b.jpg"):
        touch(tmp_path / "in" / name)
    plan = plan_batch([tmp_path / "in"], tmp_path / "out", ".jpg", template, WEB)
    outputs = names(plan.jobs)
    assert all(len(name.encode()) <= 255 and name.endswith(".jpg") for name in outputs)
    assert outputs[0].startswith("a-ßß") and outputs[1].startswith("b-ßß")
    one = plan_batch(
        [tmp_path / "in" / "a.jpg"], tmp_path / "o2", ".jpg", NameTemplate.parse("ß" * 200), WEB
    )
    plan2 = BatchPlan(".jpg", naming("ß" * 200))
    first = plan2.add([tmp_path / "in" / "a.jpg"], tmp_path / "o3").jobs
    second = plan2.add([tmp_path / "in" / "b.jpg"], tmp_path / "o3").jobs
    assert names(first) == names(one.jobs)
    assert second[0].output.name.endswith("-2.jpg") and len(second[0].output.name.encode()) <= 255

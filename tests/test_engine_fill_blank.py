"""``fill_blank`` as a later-sync rule, both ways: a blank side is filled, a side with a value is left alone."""

from __future__ import annotations

from tests.memory_system import field_rule
from tests.test_engine import Rig, rig  # noqa: F401  (the fixture)

FILL_BLANK_LATER = [
    field_rule("email", "Email", ("never", "never"), ("fill_blank", "fill_blank")),
    field_rule("title", "Title", ("never", "never"), ("fill_blank", "fill_blank")),
]


async def test_later_sync_fills_a_blank_side_both_ways_and_leaves_a_side_with_a_value_alone(rig: Rig):  # noqa: F811
    rig.use(FILL_BLANK_LATER)
    await rig.home("Ada")
    remote_id = rig.remote.add("contact", {"Name": "Ada"})
    assert (await rig.sync()).status == "success"  # links the pair; the first-sync rules copy nothing

    await rig.edit_home("Ada", email="ada@home.example")
    rig.clock.tick()
    rig.remote.edit("contact", remote_id, {"Title": "Countess"})
    filled = await rig.sync()

    assert filled.status == "success", filled
    assert rig.remote.get("contact", remote_id)["Email"] == "ada@home.example"
    assert (await rig.home_named("Ada")).fields["title"] == "Countess"
    reasons = " ".join(item["reason"] for item in await rig.store.run_items(filled.run_id))
    assert "fill_blank home→remote" in reasons and "fill_blank remote→home" in reasons, reasons

    await rig.edit_home("Ada", email="new@home.example")
    rig.clock.tick()
    rig.remote.edit("contact", remote_id, {"Title": "Dr"})
    kept = await rig.sync()

    assert kept.status == "success", kept
    assert rig.remote.get("contact", remote_id)["Email"] == "ada@home.example"
    assert rig.remote.get("contact", remote_id)["Title"] == "Dr"
    ada = await rig.home_named("Ada")
    assert ada.fields["title"] == "Countess"
    assert ada.fields["email"] == "new@home.example"

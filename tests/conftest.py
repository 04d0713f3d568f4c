"""Settings every test module shares."""

from hypothesis import settings

# Property tests check what the hub does, never how fast: a loaded CI machine must not fail them on a deadline.
settings.register_profile("hub", deadline=None, print_blob=True)
settings.load_profile("hub")

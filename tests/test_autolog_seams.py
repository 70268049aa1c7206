"""The public seams autolog's library integrations use: replacing an attribute so unpatching
restores it exactly, and the post-training hooks' fast path."""

from __future__ import annotations

import gc

from mlnb.autologging import patching, post_training


class Owner:
    def inherited(self):
        return "base"


class Child(Owner):
    def own(self):
        return "own"


def test_replace_attribute_is_undone_exactly():
    own, wrapper = Child.__dict__["own"], lambda self: "wrapped"
    patching.replace_attribute("seam-test", Child, "own", wrapper)
    patching.replace_attribute("seam-test", Child, "inherited", wrapper)
    assert Child().own() == Child().inherited() == "wrapped" and patching.is_patched("seam-test")
    patching.unpatch("seam-test")
    assert Child.__dict__["own"] is own and "inherited" not in Child.__dict__   # inherited again, not copied
    assert Child().inherited() == "base" and not patching.is_patched("seam-test")


def test_the_fast_path_is_off_only_while_no_logged_model_is_alive():
    gc.collect()
    before = post_training.tracks_any()
    model = Child()
    post_training.track(model, "0123456789abcdef")
    assert post_training.tracks_any() and post_training.run_of(model) == "0123456789abcdef"
    assert post_training.run_of(Child()) is None
    del model
    gc.collect()
    assert post_training.tracks_any() is before   # models are held weakly: a collected model is forgotten

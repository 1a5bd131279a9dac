"""The compile stage's output is the same bytes for the same model, whatever the process.

skl2onnx collects the graph's opsets in a set, so their order in `model.onnx` followed Python's
per-process hash seed: two `dvc repro` runs of one model could write different bytes and
different `dvc.lock` hashes (seen as a distributed run's lock differing from a plain one).
"""

from __future__ import annotations

from churn.artifacts import saved_model
from churn.stages import compile as compiler


def test_opset_order_in_the_graph_does_not_depend_on_skl2onnxs_set_order(trained, monkeypatch):
    from skl2onnx.common import _topology

    model = saved_model.load(trained.model_dir)
    usual = compiler.convert(model)
    original = _topology._update_domain_version

    def other_set_order(container, *args, **kwargs):
        # What another hash seed may give: the ML domain's opset met first.
        pairs = sorted(container.node_domain_version_pair_sets, key=lambda p: p[0] != "ai.onnx.ml")
        container.node_domain_version_pair_sets = pairs
        return original(container, *args, **kwargs)

    monkeypatch.setattr(_topology, "_update_domain_version", other_set_order)
    assert compiler.convert(model) == usual

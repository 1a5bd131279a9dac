"""pipeline_graph: stages and edges from dvc.yaml, the way DVC draws them; refusals are clear."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from churn.engines import pipeline_graph
from churn.engines.pipeline_graph import Output, PipelineError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def project(tmp_path: Path, dvc_yaml: str, **dvc_files: str) -> Path:
    (tmp_path / "dvc.yaml").write_text(dvc_yaml)
    for name, text in dvc_files.items():
        (tmp_path / f"{name}.dvc").write_text(text)
    return tmp_path


def test_the_projects_pipeline_in_dependency_order():
    pipeline = pipeline_graph.read(PROJECT_ROOT)
    assert pipeline.names == ("prepare", "train", "compile", "evaluate")
    assert pipeline.stage("train").upstream == ("prepare",)
    assert set(pipeline.stage("evaluate").upstream) == {"prepare", "train"}
    assert pipeline.stage("prepare").data_files == ("data.dvc",)
    assert {o.path for o in pipeline.stage("evaluate").uncached_outs} == {
        "eval/metrics.json",
        "eval/plots",
    }


def test_edges_by_path_overlap_wdir_and_pull_targets(tmp_path):
    root = project(
        tmp_path,
        """
stages:
  report:            # listed first, runs last: order comes from the edges
    cmd: x
    deps: [out/model/weights.bin, metrics.json]
    outs: [report.md]
  fit:
    cmd: x
    wdir: sub
    deps: [../raw/table.csv]
    outs: [../out/model]
    metrics:
      - ../metrics.json:
          cache: false
  unrelated:
    cmd: x
    deps: [other.txt]
    plots: [plot.json]
""",
        raw="outs:\n- md5: abc.dir\n  path: raw\n",
    )
    pipeline = pipeline_graph.read(root)
    assert pipeline.names == ("fit", "report", "unrelated")
    fit, report = pipeline.stage("fit"), pipeline.stage("report")
    assert fit.deps == ("raw/table.csv",)
    assert fit.outs == (Output("out/model", cache=True), Output("metrics.json", cache=False))
    assert fit.pull == ("raw/table.csv",)
    assert fit.data_files == ("raw.dvc",)
    assert report.upstream == ("fit",)
    # Only the cached file inside the model is pulled; the metrics travel with the payload.
    assert report.pull == ("out/model/weights.bin",)
    assert pipeline.stage("unrelated").upstream == ()
    assert pipeline.stage("unrelated").outs == (Output("plot.json", cache=True),)


@pytest.mark.parametrize(
    ("dvc_yaml", "message"),
    [
        ("stages: {}\n", "defines no stages"),
        (
            "stages:\n  s:\n    foreach: [1, 2]\n    do: {cmd: x}\n",
            "foreach/matrix stages are not supported",
        ),
        ("stages:\n  s:\n    cmd: x\n    deps: ['${item}']\n", "cannot resolve ${item}"),
        (
            "vars:\n  - {a: {b: [1]}}\nstages:\n  s:\n    cmd: x\n    deps: ['${a.b}']\n",
            "${a.b} is not a plain value",
        ),
        ("stages:\n  s:\n    cmd: x\n    deps: [../elsewhere]\n", "points outside the project"),
        (
            "stages:\n  a:\n    cmd: x\n    deps: [b.txt]\n    outs: [a.txt]\n"
            "  b:\n    cmd: x\n    deps: [a.txt]\n    outs: [b.txt]\n",
            "depend on each other",
        ),
        ("stages: [\n", "cannot read"),
    ],
)
def test_what_cannot_be_a_task_graph_is_refused_clearly(tmp_path, dvc_yaml, message):
    with pytest.raises(PipelineError) as raised:
        pipeline_graph.read(project(tmp_path, dvc_yaml))
    assert message in str(raised.value)


def test_paths_interpolated_from_params_and_vars_files_as_dvc_does(tmp_path):
    (tmp_path / "params.yaml").write_text("prepare:\n  out: split\n")
    (tmp_path / "contract.yaml").write_text("data:\n  path: raw/table.csv\nother: 1\n")
    root = project(
        tmp_path,
        """
vars:
  - contract.yaml:data
  - {model_dir: models/m}
stages:
  prepare:
    cmd: x
    deps: ['${data.path}']
    outs: ['${ prepare.out }']
  train:
    cmd: x
    deps: [split]
    outs: ['${model_dir}']
""",
        raw="outs:\n- path: raw\n",
    )
    pipeline = pipeline_graph.read(root)
    assert pipeline.stage("prepare").deps == ("raw/table.csv",)
    assert pipeline.stage("prepare").data_files == ("raw.dvc",)
    assert pipeline.stage("train").upstream == ("prepare",)
    assert pipeline.stage("train").outs == (Output("models/m", cache=True),)


def test_a_missing_vars_key_is_named(tmp_path):
    (tmp_path / "contract.yaml").write_text("data: {}\n")
    root = project(tmp_path, "vars: ['contract.yaml:nope']\nstages:\n  s:\n    cmd: x\n")
    with pytest.raises(PipelineError, match=r"no \['nope'\] in contract\.yaml"):
        pipeline_graph.read(root)


def test_a_second_dvc_yaml_is_refused(tmp_path):
    root = project(tmp_path, "stages:\n  s:\n    cmd: x\n")
    (root / "sub").mkdir()
    (root / "sub" / "dvc.yaml").write_text("stages:\n  t:\n    cmd: y\n")
    with pytest.raises(PipelineError, match=r"sub/dvc\.yaml: only one dvc\.yaml"):
        pipeline_graph.read(root)


def test_unknown_stage_names_the_known_ones():
    with pytest.raises(PipelineError, match=r"no stage 'nope' .*prepare, train"):
        pipeline_graph.read(PROJECT_ROOT).stage("nope")


def test_the_module_needs_only_the_standard_library_and_pyyaml():
    """Airflow's DAG processor loads it by path, without this package's dependencies."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('g', {str(pipeline_graph.__file__)!r})\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['g'] = m\n"
        "spec.loader.exec_module(m)\n"
        "print(' '.join(sorted(n.split('.')[0] for n in sys.modules)))\n"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert not {"churn", "dvc", "pandas", "numpy", "sklearn"} & loaded

"""crpse bench speed --reference: importing the official NCSN++ without CUDA, same weights, interleaved timing.

Two sources of the official code: a stand-in package written here (always runs: it has the official layout, a CUDA
extension compiled at import time and a pure-PyTorch ``upfirdn2d_native``), and a real sgmse_crp checkout named by
the environment variable CRPSE_SGMSE_CRP (skipped when unset; no network is used either way).
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from crpse.bench import reference
from crpse.cli import main
from crpse.score_model import build_model

_STAND_IN = {
    "sgmse/backbones/__init__.py": "",
    "sgmse/backbones/ncsnpp_utils/op/__init__.py": "from .upfirdn2d import upfirdn2d\n",
    "sgmse/backbones/ncsnpp_utils/op/upfirdn2d.py": """
        from torch.utils.cpp_extension import load

        upfirdn2d_op = load("upfirdn2d", sources=["upfirdn2d.cpp", "upfirdn2d_kernel.cu"])  # CUDA, at import time
        NATIVE_CALLS = []

        def upfirdn2d(input, kernel, up=1, down=1, pad=(0, 0)):
            return upfirdn2d_op.upfirdn2d(input, kernel, up, up, down, down, pad[0], pad[1], pad[0], pad[1])

        def upfirdn2d_native(input, kernel, up_x, up_y, down_x, down_y, pad_x0, pad_x1, pad_y0, pad_y1):
            NATIVE_CALLS.append((up_x, down_x, pad_x0, pad_x1))
            return input
        """,
    "sgmse/backbones/ncsnpp_utils/up_or_down_sampling.py": "from .op import upfirdn2d\n",
    "sgmse/backbones/ncsnpp.py": """
        from crpse.nn.ncsnpp import NCSNpp as _Network, NCSNppConfig

        from .ncsnpp_utils import up_or_down_sampling


        class NCSNpp(_Network):  # the official constructor (keyword options) and forward(x, time_cond, scale_divide)
            def __init__(self, nf=128, ch_mult=(1, 1, 2, 2, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,),
                         **unused_kwargs):
                super().__init__(NCSNppConfig(nf=nf, ch_mult=ch_mult, num_res_blocks=num_res_blocks,
                                              attn_resolutions=attn_resolutions))

            def forward(self, x, time_cond, scale_divide):
                up_or_down_sampling.upfirdn2d(x, None, down=2, pad=(1, 1))
                assert scale_divide.shape == (x.shape[0], 1, 1, 1)
                return super().forward(x, time_cond)
        """,
}


@pytest.fixture
def no_sgmse_modules():
    """Each test imports its own ``sgmse``; none may leak into the next."""

    def drop() -> None:
        for name in [n for n in sys.modules if n == "sgmse" or n.startswith("sgmse.")]:
            del sys.modules[name]

    drop()
    yield
    drop()


@pytest.fixture
def stand_in(tmp_path: Path, no_sgmse_modules: None) -> Path:
    for relative, text in _STAND_IN.items():
        path = tmp_path / "checkout" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path / "checkout"


def _tiny() -> torch.nn.Module:
    return build_model("tiny", seed=0).eval()


def test_import_without_cuda_uses_the_native_upfirdn2d(stand_in: Path) -> None:
    import torch.utils.cpp_extension as cpp_extension

    loader = cpp_extension.load
    network_class = reference.import_reference(stand_in)
    assert cpp_extension.load is loader  # restored after the import
    assert str(stand_in) not in sys.path
    op = sys.modules[reference._UPFIRDN2D_MODULE]
    with pytest.raises(RuntimeError, match="not built"):
        op.upfirdn2d(torch.zeros(1, 1, 4, 4), None)  # the CUDA path is a placeholder that raises on use
    score = reference.reference_like(_tiny(), network_class)
    x = torch.zeros(1, 1, 256, 64, dtype=torch.complex64)
    score(x, x, torch.full((1,), 0.5))
    assert op.NATIVE_CALLS == [(1, 2, 1, 1)]  # upfirdn2d(down=2, pad=(1, 1)) reached the native function


def test_same_weights_and_interleaved_rows(stand_in: Path) -> None:
    model = _tiny()
    rows = reference.compare_with_reference(model, reference.import_reference(stand_in), 0.5, 1, ("nchw", "fp32"),
                                            repeats=2, label="tiny")
    assert [r.path for r in rows] == ["reference sgmse_crp NCSN++ eager fp32", "crpse eager fp32",
                                      "crpse eager fp32, channels-last"]
    assert all(r.kind == "reference" and r.repeats == 2 and r.median_s > 0 and r.config == "tiny" for r in rows)
    assert rows[0].vs_reference == 1.0
    assert rows[1].vs_reference == pytest.approx(rows[0].median_s / rows[1].median_s)
    assert rows[0].max_rel_error <= 1e-6 and rows[1].max_rel_error == 0.0 and rows[2].max_rel_error <= 1e-4
    table = reference.reference_table(rows)
    line = next(line for line in table.splitlines() if line.startswith("| crpse eager fp32 |"))
    assert line.endswith(f"| {rows[1].vs_reference:.2f}x | 1.00x | 0.0e+00 | 0.0e+00 | {rows[1].setup_s:.1f} |")
    assert rows[2].rel_l2_error <= rows[2].max_rel_error * 10


def test_graph_backends_are_timed_in_the_same_rounds(stand_in: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("openvino")
    pytest.importorskip("onnx")
    rows = reference.compare_with_reference(_tiny(), reference.import_reference(stand_in), 0.5, 1,
                                            ("fp32", "onnxruntime", "openvino"), repeats=2, label="tiny")
    assert [r.path for r in rows] == [
        "reference sgmse_crp NCSN++ eager fp32", "crpse eager fp32, channels-last",
        "crpse onnxruntime fp32 (one-step sampler graph)", "crpse openvino fp32 (one-step sampler graph)",
    ]
    assert all(r.repeats == 2 and r.median_s > 0 for r in rows)
    # against the one-step sampler in eager NCHW fp32
    assert 0 < rows[2].max_rel_error <= 1e-4 and 0 < rows[3].max_rel_error <= 1e-4


def test_weights_that_do_not_fit_are_refused(stand_in: Path) -> None:
    network_class = reference.import_reference(stand_in)
    model = _tiny()
    model.dnn.output_layer.weight.data = torch.zeros(2, 4, 3, 3)  # a shape the official network does not have
    with pytest.raises(RuntimeError, match="output_layer"):
        reference.reference_like(model, network_class)


def test_bad_paths_and_checkouts_are_refused(stand_in: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a sgmse_crp checkout"):
        reference.import_reference(tmp_path / "nothing")
    with pytest.raises(ValueError, match="unknown reference-mode path"):
        reference.compare_with_reference(_tiny(), reference.import_reference(stand_in), 0.5, 1, ("fp64",))


def test_cli_reference_mode(stand_in: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["bench", "speed", "--reference", str(stand_in), "--config", "tiny", "--seconds", "0.5",
                   "--batch", "1", "--repeats", "1", "--precision", "nchw", "-o", str(tmp_path / "out")])
    assert status == 0
    out = capsys.readouterr().out
    assert "| reference sgmse_crp NCSN++ eager fp32 |" in out and "| crpse eager fp32 |" in out
    assert "kind,config" in (tmp_path / "out" / "speed.csv").read_text()
    assert main(["bench", "speed", "--reference", str(tmp_path / "nothing"), "--config", "tiny"]) == 1


_CHECKOUT = os.environ.get("CRPSE_SGMSE_CRP", "")


@pytest.mark.skipif(not (_CHECKOUT and Path(_CHECKOUT).is_dir()), reason="set CRPSE_SGMSE_CRP to a sgmse_crp checkout")
def test_the_official_network_matches_crpse_on_the_same_weights(no_sgmse_modules: None) -> None:
    model = reference.random_model("tiny")
    rows = reference.compare_with_reference(model, reference.import_reference(_CHECKOUT), 0.5, 1, ("nchw",),
                                            repeats=1)
    assert rows[0].max_rel_error <= 1e-5

"""benchmarks/scaling_rounds.py: the per-model summary of many rounds, and its argument checks."""

import pytest

from benchmarks import scaling_rounds


def rnd(model, stock, onexn):
    return {"model": model, "dense_speedup": stock, "onexn_speedup": onexn}


def test_summary_medians_and_quotient():
    rounds = [rnd("a", 1.90, 1.95), rnd("b", 1.8, 1.7), rnd("a", 1.80, 1.80), rnd("a", 2.00, 1.90)]
    s = scaling_rounds.summarize(rounds)
    assert list(s) == ["a", "b"]
    a = s["a"]["all"]
    assert a["rounds"] == 3
    assert a["stock"] == pytest.approx(1.90)
    assert a["onexn"] == pytest.approx(1.90)
    assert a["quotient"] == pytest.approx(1.0)  # quotients 1.026, 1.0, 0.95
    assert a["as_well"] == 2
    assert s["b"]["all"]["quotient"] == pytest.approx(1.7 / 1.8)
    assert s["b"]["all"]["as_well"] == 0


def test_rounds_with_a_vcpu_taken_are_left_out_of_the_second_figure():
    rounds = [rnd("m", 1.9, 1.95), rnd("m", 1.0, 1.05), rnd("m", 1.85, 1.1)]
    s = scaling_rounds.summarize(rounds)["m"]
    assert s["all"]["rounds"] == 3
    assert s["two_vcpus"]["rounds"] == 1
    assert s["two_vcpus"]["quotient"] == pytest.approx(1.95 / 1.9)
    only_taken = scaling_rounds.summarize([rnd("m", 1.0, 1.0)])["m"]
    assert only_taken["two_vcpus"] is None
    assert "none" in scaling_rounds.format_summary({"m": only_taken})


def test_format_names_every_model_and_figure():
    text = scaling_rounds.format_summary(scaling_rounds.summarize([rnd("x", 1.9, 1.8)]))
    assert text.splitlines()[0] == "x"
    assert "stock 1.900x, onexn 1.800x" in text and "as well in 0 of 1" in text


def test_bad_arguments_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        scaling_rounds.parse_args([str(tmp_path / "missing.tflite")])
    assert "no such model file" in capsys.readouterr().err
    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    for bad in (["--minutes", "0"], ["--runs", "1"], ["--option", "channel_slices"], ["--option", "num_threads=2"]):
        with pytest.raises(SystemExit):
            scaling_rounds.parse_args([str(model)] + bad)
    assert scaling_rounds.parse_args([str(model), "--minutes", "0.5"]).minutes == 0.5


def test_options_reach_the_onexn_interpreters(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    args = scaling_rounds.parse_args([str(model), "--option", "channel_slices=0", "--option", "kernel=avx2"])
    assert args.options == {"channel_slices": "0", "kernel": "avx2"}
    assert scaling_rounds.parse_args([str(model)]).options == {}

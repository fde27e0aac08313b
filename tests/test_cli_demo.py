"""``symdiff demo`` (what ``make demo`` runs): its text report and its
``--format json`` document carry the same results, and those match the
lectures' closed forms."""

from __future__ import annotations

import json
import math

from symdiff.cli.main import main

LN2 = math.log(2.0)
DX = 3 * math.exp(6) + 3 / LN2 - 3 / LN2 ** 2 + math.cos(LN2) / 12 - math.sin(LN2) / 12
DZ = 2 * math.exp(6) + 2 / LN2 - math.sin(LN2) / 18


def test_demo_json(capsys):
    assert main(["demo", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["point"] == {"x": 2.0, "z": 3.0}
    assert doc["ops"] == {"y": 8, "y_and_gradient": 21}
    assert math.isclose(doc["gradient"]["dy/dx"], DX, rel_tol=1e-14)
    assert math.isclose(doc["gradient"]["dy/dz"], DZ, rel_tol=1e-14)
    assert doc["closed_form"] == {"dy/dx": DX, "dy/dz": DZ}
    assert doc["compiled"]["values"][1:] == [doc["gradient"]["dy/dx"], doc["gradient"]["dy/dz"]]
    names = [m["name"] for m in doc["comparison"]["methods"]]
    assert names == ["symbolic", "compiled", "forward", "reverse", "forward_difference",
                     "central_difference", "complex_step", "richardson"]
    for m in doc["comparison"]["methods"]:
        if m["name"] in ("symbolic", "compiled", "forward", "reverse"):
            assert m["max_rel_error"] < 1e-15, m
    soft = doc["softmax_regression"]
    assert soft["program"].splitlines()[-1].startswith("dloss/dTheta = X.T @ (softmax(")
    assert soft["closed_form_rel_error"] < 1e-13 and soft["m"] == 1000


def test_demo_text(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    titles = [line for line in out.splitlines() if line[:2] in ("1.", "2.", "3.", "4.", "5.")]
    assert [t[:2] for t in titles] == ["1.", "2.", "3.", "4.", "5."]
    assert "operations: y alone 8, y with its gradient 21" in out
    assert f"dy/dx = {DX!r}"[:20] in out
    assert "reference (mpmath, 40 digits)" in out

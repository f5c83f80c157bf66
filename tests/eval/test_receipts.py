"""The receipts suite on a few real SROIE scans of the shared corpus, and its truth boxes."""

from __future__ import annotations

import json

import pytest

from vlm_engine.eval import receipts
from vlm_engine.eval.__main__ import main
from vlm_engine.grounding import Box


def test_truth_boxes_follow_the_transcripts(corpus_dir):
    [receipt] = receipts.load_receipts(corpus_dir / "receipts", limit=1)
    lines = receipt.lines
    # the company line's transcript has its own typo ("SDN BND"): matched as a part, one line
    [company] = receipts.truth_boxes(lines, receipt.key["company"])
    assert company == Box(50, 82, 440, 121)
    # the address spans four lines: their union
    [address] = receipts.truth_boxes(lines, receipt.key["address"])
    assert address == Box(110, 144, 383, 233)
    # the total is printed on three lines: each is a candidate, the price "9.000" is not
    totals = receipts.truth_boxes(lines, receipt.key["total"])
    assert len(totals) == 3 and Box(202, 597, 245, 612) not in totals
    assert receipts.truth_boxes(lines, "NOT ON THE RECEIPT 12345") == []


def test_cli_on_two_receipts(corpus_dir, tmp_path, capsys):
    out = tmp_path / "result.json"
    assert (
        main(
            [
                "--suite",
                "receipts",
                "--data",
                str(corpus_dir / "receipts"),
                "--limit",
                "2",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    table = capsys.readouterr().out
    assert "receipts: 2" in table and all(name in table for name in receipts.FIELDS)
    result = json.loads(out.read_text())
    assert result["receipts"] == 2 and set(result["fields"]) == set(receipts.FIELDS)
    for row in result["rows"]:
        for name in receipts.FIELDS:
            cell = row[name]
            assert cell["iou"] is None or 0.0 <= cell["iou"] <= 1.0
        # the key fields the issue targets, on these two scans: read exactly, boxed on the right line
        assert row["date"]["exact"] and row["total"]["exact"], row
        # the date's box is its own words, the truth box its whole printed line (with the time): a part of it
        assert row["date"]["iou"] > 0.1 and row["total"]["iou"] > 0.5, row


def test_cli_refuses_bad_arguments(tmp_path, capsys):
    for argv in (
        ["--suite", "receipts"],
        ["--suite", "receipts", "--data", str(tmp_path)],
        ["--suite", "synthetic", "--n", "3"],
        ["--suite", "receipts", "--data", str(tmp_path), "--backend", "nonsense"],
    ):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
    assert "--backend must be KIND:MODEL" in capsys.readouterr().err

"""Evaluation suites, run with `python -m vlm_engine.eval --suite NAME ...`.

- `receipts` (`receipts.py`): key-field extraction (company, date, address, total) through the agent over a
  directory laid out like the SROIE receipts of the shared corpus: exact match per field and the IoU of
  each field's evidence box against the ground-truth line box.
- `synthetic` (`synthetic.py`): the project's generated grounding/counting/QA set, run on a backend.

Suites are imported only when asked for, so one suite's dependencies never stop another from running.
"""

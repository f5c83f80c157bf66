"""Decoding constrained to the Sightline box syntax: `<box>` is followed by four `<loc_*>` and `</box>`.

Design choices:
- One small state machine per row over token ids (no regex over text): outside a box, location tokens and
  `</box>` are banned; after `<box>` only location tokens (x0, y0, x1, y1 with x1 >= x0 and y1 >= y0);
  then only `</box>`.
- A box is opened only when the remaining token budget can close it, so a constrained output never ends
  in half a box: every `<box>` it writes parses.
"""

from __future__ import annotations

import torch

from vlm_engine.model.tokenizer import SightlineTokenizer

OUTSIDE, CLOSE = 0, 5  # states 1..4 expect the 1st..4th location token
BOX_LENGTH = 6  # <box> + 4 locations + </box>


class BoxConstraint:
    def __init__(
        self, tokenizer: SightlineTokenizer, vocab_size: int, batch: int, device: torch.device
    ) -> None:
        self.box_id, self.box_end_id = tokenizer.box_id, tokenizer.box_end_id
        self.loc_ids = torch.tensor(tokenizer.loc_ids, device=device)
        self.loc_index = {token: i for i, token in enumerate(tokenizer.loc_ids)}
        self.state = [OUTSIDE] * batch
        self.values: list[list[int]] = [[] for _ in range(batch)]
        # the masks of the common states, built once (a row outside any box is the usual case)
        self._outside = torch.zeros(vocab_size, dtype=torch.bool, device=device)
        self._outside[self.loc_ids] = True
        self._outside[self.box_end_id] = True
        self._outside_short = self._outside.clone()  # too few tokens left to close a box
        self._outside_short[self.box_id] = True
        self._close = torch.ones(vocab_size, dtype=torch.bool, device=device)
        self._close[self.box_end_id] = False
        self._location = torch.ones(vocab_size, dtype=torch.bool, device=device)
        self._location[self.loc_ids] = False

    def banned(self, remaining: int) -> torch.Tensor:
        """(batch or 1, vocab) True where a token would break the syntax, given `remaining` tokens of budget
        (one broadcast row while no row is inside a box)."""
        outside = self._outside_short if remaining < BOX_LENGTH else self._outside
        if all(state == OUTSIDE for state in self.state):
            return outside[None]
        rows = []
        for row, state in enumerate(self.state):
            if state == OUTSIDE:
                rows.append(outside)
            elif state == CLOSE:
                rows.append(self._close)
            elif state >= 3:  # x1 >= x0 and y1 >= y0: the 3rd and 4th location start at the 1st and 2nd's
                mask = self._location.clone()
                mask[self.loc_ids[: self.values[row][state - 3]]] = True
                rows.append(mask)
            else:
                rows.append(self._location)
        return torch.stack(rows)

    def update(self, tokens: list[int]) -> None:
        for row, token in enumerate(tokens):
            state = self.state[row]
            if state == OUTSIDE and token == self.box_id:
                self.state[row], self.values[row] = 1, []
            elif OUTSIDE < state < CLOSE and token in self.loc_index:
                self.values[row].append(self.loc_index[token])
                self.state[row] = state + 1
            elif state == CLOSE and token == self.box_end_id:
                self.state[row] = OUTSIDE

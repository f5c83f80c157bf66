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
        self.vocab_size = vocab_size
        self.state = [OUTSIDE] * batch
        self.values: list[list[int]] = [[] for _ in range(batch)]

    def banned(self, remaining: int) -> torch.Tensor:
        """(batch, vocab) True where a token would break the syntax, given `remaining` tokens of budget."""
        device = self.loc_ids.device
        banned = torch.zeros(len(self.state), self.vocab_size, dtype=torch.bool, device=device)
        for row, state in enumerate(self.state):
            if state == OUTSIDE:
                banned[row, self.loc_ids] = True
                banned[row, self.box_end_id] = True
                if remaining < BOX_LENGTH:
                    banned[row, self.box_id] = True
            elif state == CLOSE:
                banned[row] = True
                banned[row, self.box_end_id] = False
            else:
                banned[row] = True
                # x1 >= x0 and y1 >= y0: the 3rd and 4th location start at the 1st and 2nd's value
                low = self.values[row][state - 3] if state >= 3 else 0
                banned[row, self.loc_ids[low:]] = False
        return banned

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

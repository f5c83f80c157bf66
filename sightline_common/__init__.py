"""Pure-Python pieces both sides share (the engine and the service): standard library only.

Kept tiny on purpose: anything here is imported by the light API process, which must never load torch.
"""

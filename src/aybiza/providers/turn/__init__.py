"""The end-of-turn model (Smart Turn v3): its weights (``weights``) and its runner (``model``)."""

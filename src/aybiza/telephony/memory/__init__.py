"""An in-process carrier: a call's media as Python objects, for loop tests and evaluations."""

"""The REST API under ``/v1``: thin handlers over ``aybiza.services``."""

"""Native SIP trunk (BYOC): signalling and media."""

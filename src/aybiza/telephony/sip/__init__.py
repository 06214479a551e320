"""Native SIP trunk carrier: SIP signalling (RFC 3261) and RTP media, no Twilio in the path."""

"""The one way the platform sends requests to customers' URLs (webhooks, HTTP tools, workflow
steps): ``guard`` decides which addresses may be reached, ``connector`` connects only to
addresses the guard checked, ``sender`` signs, bounds, retries and reads the answer."""

"""Durable workflows: runs of steps triggered by platform events, each step retried with
backoff and recorded so that a step that completed is never run again."""

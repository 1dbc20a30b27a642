"""Adapters: the only code that talks to AWS (through boto3)."""

"""claimdesk: a research desk's knowledge base that keeps its numbers honest."""

__version__ = "0.1.0"

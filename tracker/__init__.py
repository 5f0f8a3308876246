"""tracker: tells customers every real step of their parcel, by SMS and email."""

__version__ = "0.1.0"

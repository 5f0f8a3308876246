"""tracker: tells customers every real step of their parcel, by SMS and email."""

__version__ = "0.2.0"  # semantic versioning; README "Versions" says what each release changed

"""The offloading report: record logs read into series, the verdict, plots, and the document rendered as
Markdown and self-contained HTML."""

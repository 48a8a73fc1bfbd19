"""Rewrite a generated block of README.md between <!-- bench:NAME --> markers."""
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def update_block(name: str, text: str) -> bool:
    """Replace the block NAME in README.md; returns False if the markers are absent."""
    body = README.read_text()
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(body):
        return False
    README.write_text(pattern.sub(lambda _: f"{start}\n{text.rstrip()}\n{end}", body))
    return True

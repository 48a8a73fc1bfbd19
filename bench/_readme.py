"""Rewrite a generated block of README.md between <!-- bench:NAME --> markers."""
import json
import pathlib
import re
import sys

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


def publish(name: str, text: str, update_readme: bool) -> bool:
    """Print a benchmark's tables and, with ``update_readme``, put them in the README's
    block NAME; False (said on stderr) when the README has no such block."""
    print(text)
    if update_readme and not update_block(name, text):
        print(f"README.md has no <!-- bench:{name} --> block", file=sys.stderr)
        return False
    return True


def save_and_publish(name: str, res: dict, text: str, json_path: pathlib.Path,
                     update_readme: bool) -> int:
    """Write a run's result to ``json_path``, publish its tables; the exit status: 1 if
    the README block is missing or the daemon under test did not exit 0."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(res, indent=1))
    if not publish(name, text, update_readme):
        return 1
    return 0 if res.get("exit_code", 0) == 0 else 1

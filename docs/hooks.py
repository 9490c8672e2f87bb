"""mkdocs hook: ``changelog.md`` shows the repository's CHANGELOG.md, so there is one source."""

from pathlib import Path

MARKER = "<!-- include: CHANGELOG.md -->"


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != "changelog.md" or MARKER not in markdown:
        return markdown
    changelog = Path(config.config_file_path).parent / "CHANGELOG.md"
    text = changelog.read_text(encoding="utf-8")
    # The page has its own title; drop the file's.
    body = text.split("\n", 1)[1] if text.startswith("# ") else text
    return markdown.replace(MARKER, body.strip() + "\n")

"""mkdocs hook (see mkdocs.yml): links from docs/ to the repository's other
files (`../../stacks/lab1.yaml`, `../../README.md`) point at the source
host instead, once checked to exist; a link to a missing file is a warning,
which `mkdocs build --strict` turns into a failure, as it does for broken
links inside docs/."""

import logging
import os
import re

log = logging.getLogger(f"mkdocs.plugins.{__name__}")

# An inline Markdown link or image target: ](target) or ](target "title").
LINK = re.compile(r"\]\(([^)\s]+)((?:\s+\"[^\"]*\")?)\)")


def on_page_markdown(markdown, page, config, files):
    docs_dir = os.path.realpath(config["docs_dir"])
    root = os.path.dirname(docs_dir)
    source_url = config["extra"]["source_url"].rstrip("/")
    page_dir = os.path.dirname(os.path.join(docs_dir, page.file.src_path))

    def rewrite(match):
        target, title = match.group(1), match.group(2)
        if "://" in target or target.startswith(("#", "/", "mailto:")):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = os.path.realpath(os.path.join(page_dir, path))
        if resolved == docs_dir or resolved.startswith(docs_dir + os.sep):
            return match.group(0)  # mkdocs checks links inside docs/ itself
        if not resolved.startswith(root + os.sep):
            log.warning("%s: link %s leaves the repository", page.file.src_path, target)
            return match.group(0)
        if not os.path.exists(resolved):
            log.warning("%s: link %s names a file the repository lacks", page.file.src_path, target)
            return match.group(0)
        rel = os.path.relpath(resolved, root).replace(os.sep, "/")
        url = f"{source_url}/{rel}" + (f"#{anchor}" if anchor else "")
        return f"]({url}{title})"

    return LINK.sub(rewrite, markdown)

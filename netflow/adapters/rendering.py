"""Email bodies from digests: the one Jinja2 Environment, and a render function per email.

    text, html = render_digest(digest)
    text, html = render_steward(steward_digest)

Templates live in the repository's templates/email/ (one layout per format) and only loop and
test; every word is decided in netflow.domain.digest. HTML templates autoescape, and a missing
variable raises (StrictUndefined) instead of printing an empty cell. The Environment is built
on first use, not at import.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netflow.config import PROJECT_ROOT
from netflow.domain.digest import Digest
from netflow.domain.steward import StewardDigest

__all__ = ["TEMPLATES_DIR", "environment", "render_digest", "render_steward", "render_template"]

TEMPLATES_DIR = PROJECT_ROOT / "templates"

if TYPE_CHECKING:
    import jinja2


@lru_cache(maxsize=4)
def _environment(templates_dir: Path) -> jinja2.Environment:
    import jinja2

    if not templates_dir.is_dir():
        raise FileNotFoundError(f"email templates folder {templates_dir} does not exist; "
                                "pass templates_dir= or restore the repository's templates/")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def environment(templates_dir: Path | str | None = None) -> jinja2.Environment:
    """The shared Environment for `templates_dir` (default: NETFLOW_TEMPLATES_DIR, else the repository's templates/)."""
    if templates_dir is None:
        from netflow.config import Settings

        templates_dir = Settings.from_env().templates_dir
    return _environment(Path(templates_dir).resolve())


def render_template(name: str, context: Mapping[str, Any], *, templates_dir: Path | str | None = None) -> str:
    """One template rendered with `context`; a variable the template uses but lacks raises."""
    return environment(templates_dir).get_template(name).render(context)


def _pair(stem: str, context: Mapping[str, Any], templates_dir: Path | str | None) -> tuple[str, str]:
    text = render_template(f"email/{stem}.txt", context, templates_dir=templates_dir)
    html = render_template(f"email/{stem}.html", context, templates_dir=templates_dir)
    return text, html


def render_digest(digest: Digest, *, templates_dir: Path | str | None = None) -> tuple[str, str]:
    """(plain text, HTML) of a care team's digest, with the same content in both."""
    return _pair("digest", {"digest": digest}, templates_dir)


def render_steward(digest: StewardDigest, *, templates_dir: Path | str | None = None) -> tuple[str, str]:
    """(plain text, HTML) of the data steward's digest of quarantined records."""
    return _pair("steward", {"digest": digest}, templates_dir)

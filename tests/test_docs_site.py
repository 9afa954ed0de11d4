"""The documentation site: it builds with ``mkdocs build --strict``, and what it promises is in it.

One build per test session (``site`` fixture): it executes every notebook, so it
takes minutes. The strict build already fails on a broken link or anchor in a
Markdown page; ``test_no_internal_link_is_broken`` also reads the built HTML,
which covers the notebook pages and the API reference. Under ``CI=true`` a missing
docs extra fails instead of skipping.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGES = ("memoryweave_core", "memoryweave_lc", "memoryweave_li", "memoryweave")
_DIRECTIVE = re.compile(r"^::: ([\w.]+)\s*$", re.MULTILINE)


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{module} is not installed: CI installs the docs extra (pip install '.[all]')")
        pytest.skip(f"{module} is not installed (pip install 'memoryweave[docs]')")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter", "matplotlib"):
        _need(module)
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "NO_MKDOCS_2_WARNING": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
                            "--site-dir", str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stderr[-6000:]}"
    return out


def _page(site: Path, src: str) -> str:
    """The built HTML of a docs/ source file (directory URLs: x.md -> x/index.html)."""
    stem = src.rsplit(".", 1)[0]
    return (site / ("index.html" if stem == "index" else f"{stem}/index.html")).read_text(encoding="utf-8")


#: Where the notebooks look for LoCoMo (mini_benchmark.ipynb); without it they skip the cells that plot it.
LOCOMO = Path(os.environ.get("MEMORYWEAVE_LOCOMO") or ROOT.parent / "shared" / "data" / "locomo10.json")


def _notebooks_with_plots() -> list[str]:
    return sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb") if "plt.show" in p.read_text(encoding="utf-8"))


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("notebook", _notebooks_with_plots())
def test_notebook_pages_show_their_plots(site: Path, notebook: str) -> None:
    """The notebooks are stripped in git; the site executes them, so their plots are in the page."""
    if "locomo10.json" in (ROOT / "notebooks" / notebook).read_text(encoding="utf-8") and not LOCOMO.exists():
        pytest.skip(f"{notebook} plots LoCoMo, not found at {LOCOMO} (set MEMORYWEAVE_LOCOMO)")
    html = _page(site, f"notebooks/{notebook}")
    images = re.findall(r"<img\b[^>]*\bsrc=\"data:image/png;base64,", html)
    assert images, f"the built page of {notebook} has no plot"


@pytest.mark.timeout(1800)
def test_every_notebook_is_a_page(site: Path) -> None:
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        html = _page(site, f"notebooks/{notebook.name}")
        assert 'class="jp-Notebook' in html or "jp-Cell" in html, notebook.name


@pytest.mark.parametrize("package", PACKAGES)
def test_api_reference_lists_exactly_all(package: str) -> None:
    """Each package's reference page documents every name of its ``__all__``, in order, and nothing else of it."""
    module = importlib.import_module(package)
    page = (DOCS / "api" / f"{package}.md").read_text(encoding="utf-8")
    listed = [d[len(package) + 1 :] for d in _DIRECTIVE.findall(page) if d.startswith(package + ".")]
    direct = [name for name in listed if "." not in name]
    assert direct == list(module.__all__), f"docs/api/{package}.md lists {direct}, __all__ is {module.__all__}"


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("package", PACKAGES)
def test_api_reference_renders_every_name(site: Path, package: str) -> None:
    """mkdocstrings rendered an entry (its anchor) for every directive of the page."""
    html = _page(site, f"api/{package}.md")
    for target in _DIRECTIVE.findall((DOCS / "api" / f"{package}.md").read_text(encoding="utf-8")):
        assert f'id="{target}"' in html, f"{target} is not rendered in the API reference"
    assert not re.search(r":(?:class|func|meth|mod|data):<code>", html), "a Sphinx role is shown raw"


def test_sphinx_roles_render_as_code() -> None:
    plain = _hook("sphinx_roles").plain
    assert plain("see :func:<code>~a.b.select</code> and :mod:<code>a.filters</code>") == (
        "see <code>select</code> and <code>a.filters</code>")


class _Links(HTMLParser):
    """Every href and src of a page, and every id it defines."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name == "id":
                self.ids.add(value)
            elif name in ("href", "src") and not (tag == "link" and name == "href" and value.endswith(".css")):
                self.links.append(value)


def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.mark.timeout(1800)
def test_no_internal_link_is_broken(site: Path) -> None:
    """Every relative link of every built page reaches a file of the site, and its #anchor exists there."""
    parsed = {path: _parse(path) for path in site.rglob("*.html")}
    broken = []
    for page, links in parsed.items():
        for link in links.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("data:", "mailto:", "javascript:")):
                continue
            path = unquote(parts.path)
            if not path:
                target = page
            elif path.startswith("/"):  # 404.html links from the site's root
                target = (site / path.lstrip("/")).resolve()
            else:
                target = (page.parent / path).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {link} (no such file)")
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)}: {link} (no such anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(sorted(set(broken)))


def _hook(name: str = "readme_sections"):
    spec = importlib.util.spec_from_file_location(name, DOCS / "hooks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_sections_are_included_with_site_links() -> None:
    hook = _hook()
    readme = "# Title\nintro\n## Two commands\nsee [Storage](#storage) and [cli](docs/cli.md)\n```bash\n# not a heading\n```\n## Storage\nfiles\n"
    page = "# Start\n<!-- readme: Two commands -->\n"
    out = hook.include(page, readme, {"storage": "storage.md"})
    assert "see [Storage](storage.md) and [cli](cli.md)" in out
    assert "# not a heading" in out and "files" not in out
    assert hook.include("<!-- readme: Title -->", readme, {}) == "intro"
    with pytest.raises(ValueError, match="no section"):
        hook.include("<!-- readme: Nowhere -->", readme, {})


def test_every_readme_marker_names_a_readme_section() -> None:
    hook = _hook()
    headings = hook.sections((ROOT / "README.md").read_text(encoding="utf-8"))
    for page in DOCS.rglob("*.md"):
        for name in hook._MARKER.findall(page.read_text(encoding="utf-8")):
            assert name in headings, f"{page.name} includes README section {name!r}, which README.md no longer has"


def test_charts_are_deterministic_and_cover_every_image(tmp_path: Path) -> None:
    """``benchmarks/charts.py`` draws every image the docs and README show, byte for byte the same twice."""
    _need("matplotlib")
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "charts.py"), "--out", str(out)], check=True,
                       cwd=ROOT, capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        runs.append({p.name: p.read_bytes() for p in out.iterdir()})
    assert runs[0] == runs[1]
    shown = set()
    for text in [(ROOT / "README.md").read_text(encoding="utf-8")] + [p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md")]:
        shown.update(re.findall(r"images/([\w.-]+\.svg)", text))
    assert shown and shown <= set(runs[0]), f"images shown but not drawn by charts.py: {shown - set(runs[0])}"
    assert {p.name for p in (DOCS / "images").iterdir()} == set(runs[0]), "docs/images holds what charts.py draws"


@pytest.mark.parametrize("notebook", sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")))
def test_notebooks_are_stripped_in_git(notebook: str) -> None:
    """Outputs live on the site, which executes the notebooks; the committed files hold only their source."""
    cells = json.loads((ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, f"{notebook} has outputs"

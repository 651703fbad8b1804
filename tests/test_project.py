"""The project's own files hold together: settings.ini mirrors pyproject.toml, the README's commands exist."""

import configparser, json, re, tomllib
from pathlib import Path

from mhhs_ref.design import verifies

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / 'pyproject.toml').read_text())


def test_settings_ini_mirrors_pyproject():
    "nbdev 3 reads only pyproject.toml; settings.ini is a mirror for older tools and must say the same."
    py = _pyproject()
    ini = configparser.ConfigParser()
    ini.read(ROOT / 'settings.ini')
    s = ini['DEFAULT']
    proj, nb = py['project'], py['tool']['nbdev']
    assert s['lib_name'] == proj['name'] and s['repo'] == proj['name']
    assert s['description'] == proj['description']
    assert s['min_python'] == proj['requires-python'].lstrip('>=')
    assert s['license'] == proj['license']
    assert s['author'] == proj['authors'][0]['name'] and s['author_email'] == proj['authors'][0]['email']
    assert s['keywords'].split() == proj['keywords']
    assert s['requirements'].split() == proj['dependencies']
    assert s['dev_requirements'].split() == proj['optional-dependencies']['dev']
    assert s['console_scripts'] == ' '.join(f"{k}={v}" for k, v in proj['scripts'].items())
    assert s['git_url'] == proj['urls']['Repository'] and s['doc_url'] == proj['urls']['Documentation']
    for k, v in nb.items():
        assert s[k] == (str(v) if not isinstance(v, bool) else str(v)), k
    from mhhs_ref import __version__

    assert s['version'] == __version__


def test_top_level_layout():
    for p in ['nbs', 'mhhs_ref', 'settings.ini', 'pyproject.toml', 'README.md', '_quarto.yml', 'tests', '.ci/run']:
        assert (ROOT / p).exists(), p
    assert (ROOT / 'nbs' / '_quarto.yml').resolve() == (ROOT / '_quarto.yml').resolve(), (
        "nbs/_quarto.yml must be the top-level file"
    )


def test_readme_gives_the_two_commands():
    text = (ROOT / 'README.md').read_text()
    cmds = re.findall(r'^(bash tools/bootstrap && \S+.*)$', text, re.M)
    assert any('mhhs-ref' in c for c in cmds) and any(c.rstrip().endswith('pytest') for c in cmds), cmds
    assert (ROOT / 'tools' / 'bootstrap').exists()


def test_package_is_generated_from_notebooks():
    "Each module names the notebook it is exported from, and that notebook exists."
    for py in (ROOT / 'mhhs_ref').glob('*.py'):
        if py.name in ('__init__.py', '_modidx.py'):
            continue
        m = re.search(r'File to edit: \.\./nbs/(\S+\.ipynb)', py.read_text())
        assert m and (ROOT / 'nbs' / m.group(1)).exists(), py.name


def test_ruff_clean():
    "The notebooks, tests, benchmarks and tools pass ruff at 120 characters (the rules are in pyproject.toml)."
    import subprocess, sys

    ruff = Path(sys.executable).parent / 'ruff'
    r = subprocess.run(
        [str(ruff), 'check', '--output-format', 'concise', '.'], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-1000:]


def _site_targets(node):
    "Every page a navbar or sidebar entry of a Quarto config names (`href:` values and bare sidebar entries)."
    if isinstance(node, str):
        return [node] if re.search(r'\.(ipynb|qmd|md)$', node) else []
    if isinstance(node, dict):
        return [t for k, v in node.items() for t in (_site_targets(v) if k != 'text' else [])]
    if isinstance(node, list):
        return [t for v in node for t in _site_targets(v)]
    return []


def test_every_navbar_and_sidebar_page_has_a_source():
    """Quarto (`nbdev-docs`) and `mhhs-ref docs` both render the pages the navbar and sidebar name from sources in
    nbs/: a target without one is a broken link on a site built with Quarto."""
    import yaml

    nbs = ROOT / 'nbs'
    cfg = yaml.safe_load((nbs / '_quarto.yml').read_text())
    navbar = _site_targets(cfg['website']['navbar'])
    sb = nbs / 'sidebar.yml'  # written by nbdev from the notebooks (git ignores it): checked when present
    sidebar = _site_targets(yaml.safe_load(sb.read_text())['website']['sidebar']) if sb.exists() else []
    assert {'register.ipynb', 'glossary.ipynb', 'changelog.ipynb'} <= set(navbar), navbar
    missing = [t for t in navbar + sidebar if not (nbs / t).is_file()]
    assert not missing, missing
    for page in ('register', 'glossary', 'changelog'):  # computed when the site is built, never stored
        cells = [c for c in json.loads((nbs / f'{page}.ipynb').read_text())['cells'] if c['cell_type'] == 'code']
        assert cells and all('#| exec_doc' in ''.join(c['source']) and not c.get('outputs') for c in cells), page
    footer = cfg['website'].get('page-footer', {})
    for link in re.findall(r'\]\(([\w\-]+)\.html\)', str(footer)):
        assert (nbs / f'{link}.ipynb').is_file(), link
